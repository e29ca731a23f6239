import pkg from '../../package.json' with { type: 'json' };

/** The product version, from package.json (inlined into the binary by the bundler). */
export const VERSION: string = pkg.version;
