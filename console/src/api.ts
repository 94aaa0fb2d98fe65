// The console's only way to c360: the public API over gRPC-Web, on the origin that served the
// page, with the agent's credential (held in this module's memory, never stored) on every call.

import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AttentionService } from "./gen/customer360/v1/attention_service_pb.js";
import { CatalogService } from "./gen/customer360/v1/catalog_service_pb.js";
import { CustomerService } from "./gen/customer360/v1/customer_service_pb.js";
import { HistoryService } from "./gen/customer360/v1/history_service_pb.js";
import { OfferService } from "./gen/customer360/v1/offer_service_pb.js";

let credential: string | null = null;
const credentialListeners: (() => void)[] = [];

/** Sets the credential the calls carry: a JWT as a bearer token, anything else as an API key. */
export function setCredential(value: string | null): void {
  credential = value && value.trim() ? value.trim() : null;
  for (const listener of credentialListeners) listener();
}

/** Whether the agent has given a credential. */
export function hasCredential(): boolean {
  return credential !== null;
}

/** Calls `listener` whenever the credential changes. */
export function onCredential(listener: () => void): void {
  credentialListeners.push(listener);
}

const looksLikeJwt = (value: string) => /^[\w-]+\.[\w-]+\.[\w-]*$/.test(value);

const withCredential: Interceptor = (next) => (request) => {
  if (credential) {
    if (looksLikeJwt(credential)) {
      request.header.set("authorization", `Bearer ${credential}`);
    } else {
      request.header.set("x-api-key", credential);
    }
  }
  return next(request);
};

const transport = createGrpcWebTransport({
  baseUrl: window.location.origin,
  useBinaryFormat: true,
  interceptors: [withCredential],
  // Unary calls get a deadline; streams are ended by the page when it no longer needs them.
  defaultTimeoutMs: undefined,
});

export const customers = createClient(CustomerService, transport);
export const catalog = createClient(CatalogService, transport);
export const attention = createClient(AttentionService, transport);
export const offers = createClient(OfferService, transport);
export const history = createClient(HistoryService, transport);

/** The deadline of a call an agent waits for. */
export const QUICK = { timeoutMs: 5000 };

/** What went wrong, in one line an agent can act on. */
export function explain(error: unknown): string {
  const e = ConnectError.from(error);
  switch (e.code) {
    case Code.Unauthenticated:
      return credential
        ? "c360 refused your credential (expired, or not valid here): sign in again."
        : "c360 needs your credential: enter it with “Sign in”.";
    case Code.PermissionDenied:
      return `Your role may not do this: ${e.rawMessage}`;
    case Code.NotFound:
      return `Not found: ${e.rawMessage}`;
    case Code.InvalidArgument:
      return e.rawMessage;
    case Code.Unavailable:
      return `c360 cannot answer now: ${e.rawMessage}`;
    case Code.DeadlineExceeded:
      return "c360 did not answer in time.";
    case Code.ResourceExhausted:
      return `c360 is busy: ${e.rawMessage}`;
    case Code.Unimplemented:
      return "This c360 does not serve that.";
    case Code.Canceled:
      return "Cancelled.";
    default:
      return e.rawMessage || "Something went wrong.";
  }
}

/** The error's gRPC code. */
export function codeOf(error: unknown): Code {
  return ConnectError.from(error).code;
}

export { Code };
