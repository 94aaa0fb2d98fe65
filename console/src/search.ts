// The one search box: a phone number in any notation, an email, an order id or a customer id.
// A bare number may be either id, so both are asked; a phone number must carry its country
// code ("+44 …" or "0044 …"), as c360 stores numbers in full.

import { QUICK, Code, codeOf, customers } from "./api.js";
import type { Identity } from "./gen/customer360/v1/profile_pb.js";

/** What the box was read as. */
export type Query =
  | { kind: "email"; email: string }
  | { kind: "phone"; phone: string }
  | { kind: "order"; orderId: string }
  | { kind: "customer"; customerId: string }
  | { kind: "number"; id: string }
  | { kind: "unclear"; why: string };

/** Reads what the agent typed. */
export function parse(text: string): Query {
  const input = text.trim();
  if (!input) return { kind: "unclear", why: "Type a phone number, an email, an order id or a customer id." };
  const prefixed = /^(order|o|customer|c)\s*[:#]?\s*(\d+)$/i.exec(input);
  if (prefixed) {
    const id = prefixed[2];
    return prefixed[1].toLowerCase().startsWith("o")
      ? { kind: "order", orderId: id }
      : { kind: "customer", customerId: id };
  }
  if (input.includes("@")) return { kind: "email", email: input };
  if (/^#\s*\d+$/.test(input)) return { kind: "order", orderId: input.replace(/\D/g, "") };
  if (/^\d{1,12}$/.test(input)) return { kind: "number", id: input };
  const digits = input.replace(/\D/g, "");
  if (/^[+\d(][\d\s().\-/]*$/.test(input) && digits.length >= 7) {
    if (!input.startsWith("+") && !input.startsWith("00")) {
      return { kind: "unclear", why: "A phone number needs its country code: +44 20 7946 0018 or 0044 20 7946 0018." };
    }
    return { kind: "phone", phone: input };
  }
  return { kind: "unclear", why: `“${input}” is not a phone number, an email, an order id or a customer id.` };
}

/** A customer the search found, and why it matched. */
export interface Match {
  customerId: string;
  identity: Identity | undefined;
  because: string;
}

/** Everyone `query` names. */
export async function find(query: Query): Promise<Match[]> {
  switch (query.kind) {
    case "email":
      return lookup({ case: "email", value: query.email }, "email");
    case "phone":
      return lookup({ case: "phone", value: query.phone }, "phone");
    case "order":
      return lookup({ case: "orderId", value: query.orderId }, `placed order ${query.orderId}`);
    case "customer":
      return customer(query.customerId);
    case "number": {
      const [asCustomer, asOrder] = await Promise.all([
        customer(query.id),
        lookup({ case: "orderId", value: query.id }, `placed order ${query.id}`),
      ]);
      return [...asCustomer, ...asOrder];
    }
    case "unclear":
      return [];
  }
}

type Key =
  | { case: "email"; value: string }
  | { case: "phone"; value: string }
  | { case: "orderId"; value: string };

async function lookup(key: Key, because: string): Promise<Match[]> {
  const answer = await customers.lookupCustomers({ key }, QUICK);
  return answer.customers.map((m) => ({ customerId: m.customerId, identity: m.identity, because }));
}

async function customer(id: string): Promise<Match[]> {
  try {
    const profile = await customers.getCustomerProfile(
      { customerId: id, readMask: { paths: ["identity"] } },
      QUICK,
    );
    return [{ customerId: profile.customerId, identity: profile.identity, because: "customer id" }];
  } catch (error) {
    if (codeOf(error) === Code.NotFound) return [];
    // A role without the identity section still finds the customer by id.
    if (codeOf(error) === Code.PermissionDenied) {
      return [{ customerId: id, identity: undefined, because: "customer id" }];
    }
    throw error;
  }
}
