/**
 * A fake Globus Transfer on 127.0.0.1 for tests: `GET /v0.10/endpoint/{id}` (what
 * `transfer.endpoint.get` in @globus/sdk and `get_endpoint` in globus-sdk call), answering
 * with endpoint documents shaped like Transfer's, and with Transfer's error bodies
 * (`{code, message, request_id, resource}`). The product reaches it through
 * `GLOBUS_SDK_SERVICE_URL_TRANSFER=<baseUrl>`. Every request is recorded.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedTransferRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

export interface FakeTransfer {
  /** 'http://127.0.0.1:PORT' (no trailing slash). */
  baseUrl: string;
  /** The collections Transfer knows, by lower-case id. */
  collections: Map<string, Record<string, unknown>>;
  /** The next answers, consumed in order before the normal ones: a status and body, or 'hang'. */
  inject: ({ status: number; body?: unknown; headers?: Record<string, string> } | 'hang')[];
  requests: RecordedTransferRequest[];
  close(): Promise<void>;
}

/**
 * Which bearer tokens are good for Transfer. Default: any non-empty one; a test with the
 * fake Auth passes `(t) => auth.accepts(t, TRANSFER_SCOPE)`.
 */
export type TokenCheck = (token: string) => boolean;

/** Fields every Transfer endpoint document has (v0.10), as Transfer sends them for a GCSv5 collection. */
function endpointDocument(id: string, fields: Record<string, unknown>): Record<string, unknown> {
  return {
    DATA_TYPE: 'endpoint',
    id,
    display_name: `Example collection ${id.slice(0, 8)}`,
    canonical_name: `u_abcdefghijklmnopqrstuvwxyz#${id}`,
    owner_id: '7ac1ee7e-9ff0-4c7a-a3d8-0f3c5c0a1b2d',
    owner_string: 'admin@example.edu',
    username: 'u_abcdefghijklmnopqrstuvwxyz',
    description: null,
    organization: 'Example University',
    department: 'Research Computing',
    keywords: null,
    contact_email: 'support@example.edu',
    contact_info: null,
    info_link: null,
    public: true,
    subscription_id: '964be8f5-5f9b-11e4-b64e-12313940394d',
    non_functional: false,
    is_globus_connect: false,
    gcp_connected: null,
    gcp_paused: null,
    gcs_version: '5.4.80',
    gcs_manager_url: 'https://a1b2c.8443.data.globus.org',
    https_server: 'https://m-1a2b3c.a1b2c.8443.data.globus.org',
    tlsftp_server: 'tlsftp://m-1a2b3c.a1b2c.8443.data.globus.org:443',
    myproxy_server: null,
    oauth_server: null,
    default_directory: '/{server_default}/',
    force_encryption: false,
    force_verify: false,
    disable_verify: false,
    disable_anonymous_writes: false,
    acl_available: false,
    acl_editable: false,
    local_user_info_available: true,
    authentication_timeout_mins: null,
    authentication_assurance_timeout: null,
    requester_pays: false,
    user_message: null,
    user_message_link: null,
    in_use: false,
    last_accessed_time: '2026-11-30T14:02:11+00:00',
    DATA: [],
    ...fields,
  };
}

/** A GCSv5 mapped collection (storage-gateway backed); `high_assurance` as given. */
export function mappedCollection(id: string, { highAssurance = false } = {}): Record<string, unknown> {
  return endpointDocument(id, {
    entity_type: 'GCSv5_mapped_collection',
    high_assurance: highAssurance,
    host_endpoint_id: 'b2d9a5a2-6c1e-4c53-9a2e-3a1f4c2e5d6f',
    mapped_collection_id: null,
    storage_gateway_id: '0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b',
    authentication_assurance_timeout: highAssurance ? 30 : null,
  });
}

/** A GCSv5 guest collection on a mapped one: it acts with the guest's own permissions, no data_access. */
export function guestCollection(id: string, mappedId: string): Record<string, unknown> {
  return endpointDocument(id, {
    entity_type: 'GCSv5_guest_collection',
    high_assurance: false,
    host_endpoint_id: mappedId,
    mapped_collection_id: mappedId,
    acl_available: true,
    acl_editable: true,
    local_user_info_available: false,
  });
}

/** A Globus Connect Personal mapped collection: not GCSv5, so no data_access either. */
export function personalCollection(id: string): Record<string, unknown> {
  return endpointDocument(id, {
    entity_type: 'GCP_mapped_collection',
    high_assurance: false,
    is_globus_connect: true,
    gcp_connected: true,
    gcp_paused: false,
    gcs_version: null,
    gcs_manager_url: null,
    https_server: null,
    tlsftp_server: null,
    subscription_id: null,
  });
}

export async function startFakeTransfer(accepts: TokenCheck = (t) => t.length > 0): Promise<FakeTransfer> {
  const openSockets = new Set<Socket>();
  const fake: FakeTransfer = {
    baseUrl: '',
    collections: new Map(),
    inject: [],
    requests: [],
    async close() {
      for (const s of openSockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  function reply(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  /** Transfer's error body. */
  function error(res: http.ServerResponse, status: number, code: string, message: string, resource: string): void {
    reply(res, status, { code, message, request_id: randomUUID().slice(0, 9), resource });
  }

  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    fake.requests.push({ method: req.method ?? '', path, headers: req.headers });
    req.resume();
    const injected = fake.inject.shift();
    if (injected === 'hang') return;
    if (injected) return reply(res, injected.status, injected.body ?? {}, injected.headers);
    const match = /^\/v0\.10\/endpoint\/([^/?]+)$/.exec(path.split('?')[0] ?? '');
    if (!match || req.method !== 'GET') return error(res, 404, 'ClientError.NotFound', `no such resource: ${req.method} ${path}`, path);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !accepts(token)) return error(res, 401, 'AuthenticationFailed', 'Token is not active', path);
    const doc = fake.collections.get(decodeURIComponent(match[1]!).toLowerCase());
    if (!doc) return error(res, 404, 'EndpointNotFound', `No such endpoint '${match[1]}'`, path);
    reply(res, 200, doc);
  });
  server.on('connection', (s) => {
    openSockets.add(s);
    s.on('close', () => openSockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
