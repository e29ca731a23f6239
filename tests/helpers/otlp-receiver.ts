/**
 * An OTLP/HTTP trace receiver on loopback, as a collector would be: it decodes protobuf with the
 * OpenTelemetry project's own generated definitions (opentelemetry-proto compiled by protobufjs,
 * shipped in @opentelemetry/otlp-transformer 0.57) and JSON as OTLP/JSON, and keeps every span
 * flattened. It can be told to answer slowly.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';

interface AnyValue {
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: number | string | { toString(): string } | null;
  doubleValue?: number | null;
  arrayValue?: { values?: AnyValue[] | null } | null;
}
interface KeyValue {
  key: string;
  value?: AnyValue | null;
}
interface WireSpan {
  traceId: Uint8Array | string;
  spanId: Uint8Array | string;
  parentSpanId?: Uint8Array | string | null;
  name: string;
  kind: number;
  startTimeUnixNano: unknown;
  endTimeUnixNano: unknown;
  attributes?: KeyValue[] | null;
  status?: { code?: number | null; message?: string | null } | null;
}
interface WireRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] | null } | null;
    scopeSpans?: { scope?: { name?: string | null } | null; spans?: WireSpan[] | null }[] | null;
  }[];
}

const require = createRequire(import.meta.url);
const proto = require('otlp-proto/build/src/generated/root.js') as {
  opentelemetry: {
    proto: {
      collector: {
        trace: {
          v1: {
            ExportTraceServiceRequest: {
              decode(b: Uint8Array): unknown;
              toObject(m: unknown, o: object): WireRequest;
            };
          };
        };
      };
    };
  };
};
const Request = proto.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

export type Attr = string | number | boolean | Attr[];

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, Attr>;
  status: number;
  resource: Record<string, Attr>;
  scope: string;
  contentType: string;
}

export interface Receiver {
  url: string;
  spans: ReceivedSpan[];
  requests: number;
  /** Milliseconds before each answer. */
  delayMs: number;
  close(): Promise<void>;
}

function hex(v: Uint8Array | string | null | undefined): string {
  if (!v) return '';
  return typeof v === 'string' ? v : Buffer.from(v).toString('hex');
}

function attrValue(v: AnyValue | null | undefined): Attr {
  if (!v) return '';
  if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
  if (v.intValue !== undefined && v.intValue !== null) return Number(String(v.intValue));
  if (v.doubleValue !== undefined && v.doubleValue !== null) return v.doubleValue;
  return (v.arrayValue?.values ?? []).map(attrValue);
}

function attrs(list: KeyValue[] | null | undefined): Record<string, Attr> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, attrValue(kv.value)]));
}

function flatten(req: WireRequest, contentType: string): ReceivedSpan[] {
  return (req.resourceSpans ?? []).flatMap((rs) =>
    (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => ({
        traceId: hex(s.traceId),
        spanId: hex(s.spanId),
        parentSpanId: hex(s.parentSpanId),
        name: s.name,
        kind: s.kind,
        startNs: BigInt(String(s.startTimeUnixNano)),
        endNs: BigInt(String(s.endTimeUnixNano)),
        attributes: attrs(s.attributes),
        status: s.status?.code ?? 0,
        resource: attrs(rs.resource?.attributes),
        scope: ss.scope?.name ?? '',
        contentType,
      })),
    ),
  );
}

export async function startReceiver(): Promise<Receiver> {
  const r: Receiver = { url: '', spans: [], requests: 0, delayMs: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.requests++;
      const body = Buffer.concat(chunks);
      const type = req.headers['content-type'] ?? '';
      try {
        if (req.url !== '/v1/traces') throw new Error(`unexpected path ${req.url}`);
        const decoded = type.includes('json')
          ? (JSON.parse(body.toString('utf8')) as WireRequest)
          : Request.toObject(Request.decode(body), { longs: String, bytes: Array });
        // protobufjs gives bytes as arrays of numbers with `bytes: Array`.
        const fixed = JSON.parse(
          JSON.stringify(decoded, (_k, v: unknown) =>
            Array.isArray(v) && v.every((x) => typeof x === 'number')
              ? Buffer.from(v as number[]).toString('hex')
              : v,
          ),
        ) as WireRequest;
        r.spans.push(...flatten(fixed, type));
      } catch (err) {
        res.writeHead(400).end(String(err));
        return;
      }
      setTimeout(
        () => res.writeHead(200, { 'content-type': type || 'application/x-protobuf' }).end(),
        r.delayMs,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  r.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  r.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return r;
}
