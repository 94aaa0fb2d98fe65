// The 360 view: identity first, then what needs doing (alerts, next-best actions, offers made),
// billing, orders with their lines' return eligibility, shipments with their delays, and every
// interaction in one timeline. Each section is drawn on its own, so that a live update
// replaces only the sections that changed and leaves the agent's focus where it was.

import { toBinary } from "@bufbuild/protobuf";
import { QUICK, catalog, explain } from "./api.js";
import { h } from "./dom.js";
import { day, iso, label, money, seconds, span, when } from "./format.js";
import {
  ActionKind,
  CacheTier,
  ContactChannel,
  CustomerTier,
  InteractionChannel,
  InteractionPriority,
  InteractionStatus,
  InvoiceStatus,
  OpenIssueKind,
  OrderStatus,
  ShipmentStatus,
  SourceStatus,
  BillingSchema,
  IdentitySchema,
  InsightsSchema,
  InteractionsSchema,
  OrdersSchema,
  ShipmentsSchema,
  type CustomerProfile,
  type OrderLine,
  type Order,
} from "./gen/customer360/v1/profile_pb.js";
import { ReturnEligibilityReason } from "./gen/customer360/v1/catalog_pb.js";
import { OfferKind, OfferState } from "./gen/customer360/v1/offer_pb.js";
import { FEEDS, type SectionName, sourceKey, sourceName, staleNote, statusText, whyMissing } from "./sources.js";

export const SECTIONS: SectionName[] = ["identity", "insights", "billing", "orders", "shipments", "interactions"];

const TITLES: Record<SectionName, string> = {
  identity: "Customer",
  insights: "Needs attention",
  billing: "Billing",
  orders: "Orders",
  shipments: "Shipments",
  interactions: "Timeline",
};

/** The bytes of a section, to tell whether an update changed it. */
export function fingerprint(profile: CustomerProfile, section: SectionName): string {
  const bytes = (() => {
    switch (section) {
      case "identity":
        return profile.identity && toBinary(IdentitySchema, profile.identity);
      case "insights":
        return profile.insights && toBinary(InsightsSchema, profile.insights);
      case "billing":
        return profile.billing && toBinary(BillingSchema, profile.billing);
      case "orders":
        return profile.orders && toBinary(OrdersSchema, profile.orders);
      case "shipments":
        return profile.shipments && toBinary(ShipmentsSchema, profile.shipments);
      case "interactions":
        return profile.interactions && toBinary(InteractionsSchema, profile.interactions);
    }
  })();
  const status = FEEDS[section].map((s) => profile.sources.find((r) => r.source === s)?.status ?? 0).join(",");
  return `${status}|${bytes ? Array.from(bytes).join(",") : "none"}`;
}

/** One section of `profile`, as an element; `denied` says the role may not read it. */
export function section(profile: CustomerProfile, name: SectionName, denied: boolean): HTMLElement {
  const headingId = `section-${name}-title`;
  const stale = staleNote(profile, name);
  const body = denied ? missing("Not shown: your role may not read this section.") : content(profile, name);
  return h(
    "section",
    { class: `card section-${name}`, "data-section": name, "aria-labelledby": headingId },
    h("h2", { id: headingId }, TITLES[name], stale && h("span", { class: "badge stale" }, `stale: ${stale}`)),
    body,
  );
}

function content(profile: CustomerProfile, name: SectionName): HTMLElement {
  switch (name) {
    case "identity":
      return profile.identity ? identity(profile) : missing(whyMissing(profile, name));
    case "insights":
      return profile.insights ? insights(profile) : missing(whyMissing(profile, name));
    case "billing":
      return profile.billing ? billing(profile) : missing(whyMissing(profile, name));
    case "orders":
      return profile.orders ? orders(profile.orders.recent) : missing(whyMissing(profile, name));
    case "shipments":
      return profile.shipments ? shipments(profile) : missing(whyMissing(profile, name));
    case "interactions":
      return profile.interactions ? timeline(profile) : missing(whyMissing(profile, name));
  }
}

function missing(why: string): HTMLElement {
  return h("p", { class: "missing", "data-missing": "true" }, why);
}

function none(what: string): HTMLElement {
  return h("p", { class: "none" }, what);
}

const SERVED_FROM: Record<number, string> = {
  [CacheTier.L1]: "this replica's memory",
  [CacheTier.L2]: "the shared cache",
  [CacheTier.SOURCES]: "the backends just now",
};

/** The strip under the name: each backend's status, and where the answer came from. */
export function sourcesStrip(profile: CustomerProfile): HTMLElement {
  const cache = profile.cache;
  return h(
    "div",
    { class: "sources", "data-sources": "true" },
    h(
      "ul",
      { "aria-label": "Backends" },
      profile.sources.map((report) =>
        h(
          "li",
          {
            class: `source status-${(SourceStatus[report.status] ?? "unknown").toLowerCase()}`,
            "data-source": sourceKey(report.source),
            "data-status": SourceStatus[report.status] ?? "UNKNOWN",
          },
          h("span", { class: "source-name" }, sourceName(report.source)),
          " ",
          h("span", { class: "source-status" }, statusText(report)),
        ),
      ),
    ),
    cache &&
      h(
        "p",
        { class: "served" },
        `Served from ${SERVED_FROM[cache.servedFrom] ?? "c360"}, ${span(seconds(cache.age))} old`,
      ),
  );
}

function identity(profile: CustomerProfile): HTMLElement {
  const id = profile.identity!;
  return h(
    "div",
    { class: "identity" },
    h(
      "p",
      { class: "who" },
      h("span", { class: "name", "data-name": "true" }, `${id.firstName} ${id.lastName}`),
      " ",
      h("span", { class: `badge tier tier-${label(CustomerTier, id.tier)}` }, label(CustomerTier, id.tier)),
    ),
    h(
      "dl",
      { class: "facts" },
      fact("Customer id", profile.customerId),
      fact("Points", id.loyaltyPoints.toString()),
      fact("Prefers", label(ContactChannel, id.preferredChannel)),
      fact("Email", id.email),
      fact("Phone", id.phone),
      fact("Customer since", day(id.customerSince)),
    ),
  );
}

function fact(term: string, value: string): HTMLElement[] {
  return [h("dt", {}, term), h("dd", {}, value || "—")];
}

function insights(profile: CustomerProfile): HTMLElement {
  const insights = profile.insights!;
  return h(
    "div",
    { class: "insights" },
    !insights.complete && h("p", { class: "warning" }, "Incomplete: a backend the insights draw on did not answer."),
    h("h3", {}, "Alerts"),
    insights.openIssues.length
      ? h(
          "ul",
          { class: "alerts" },
          insights.openIssues.map((issue) =>
            h(
              "li",
              { class: "alert" },
              h("span", { class: "badge" }, label(OpenIssueKind, issue.kind)),
              " ",
              issue.summary,
              " ",
              h("time", { datetime: iso(issue.since) }, `since ${when(issue.since)}`),
            ),
          ),
        )
      : none("No open issues."),
    h("h3", {}, "Next best actions"),
    insights.nextBestActions.length
      ? h(
          "ul",
          { class: "actions" },
          insights.nextBestActions.map((action) =>
            h("li", {}, h("span", { class: "badge" }, label(ActionKind, action.kind)), " ", action.message),
          ),
        )
      : none("Nothing to suggest."),
    insights.offersMade.length > 0 && [
      h("h3", {}, "Offers made"),
      h(
        "ul",
        { class: "offers-made" },
        insights.offersMade.map((offer) =>
          h(
            "li",
            {},
            `${label(OfferKind, offer.kind)} ${offer.percent ? `${offer.percent} %` : money(offer.amount)} for ${offer.problemId}: ${label(OfferState, offer.state)}, by ${offer.agent} on ${when(offer.recordTime)}`,
          ),
        ),
      ),
    ],
    h(
      "dl",
      { class: "facts" },
      fact("Lifetime value", money(insights.lifetimeValue)),
      fact("Orders", insights.orderCount.toString()),
      fact("Return rate", `${Math.round(insights.returnRate * 100)} %`),
    ),
  );
}

function billing(profile: CustomerProfile): HTMLElement {
  const billing = profile.billing!;
  return h(
    "div",
    { class: "billing" },
    h("dl", { class: "facts" }, fact("Balance", money(billing.balance)), fact("Credit limit", money(billing.creditLimit))),
    billing.failedPayments.length > 0 &&
      h(
        "ul",
        { class: "failed" },
        billing.failedPayments.map((f) =>
          h("li", { class: "alert" }, `Payment of ${money(f.amount)} failed on ${when(f.failedAt)}: ${f.reason}`),
        ),
      ),
    billing.paymentMethods.length > 0 &&
      h(
        "ul",
        { class: "methods" },
        billing.paymentMethods.map((m) =>
          h("li", {}, `${m.brand} ···· ${m.last4}, expires ${m.expiryMonth}/${m.expiryYear}${m.isDefault ? " (default)" : ""}`),
        ),
      ),
    table(
      "Recent invoices",
      ["Invoice", "Order", "Amount", "Status", "Issued", "Due"],
      billing.recentInvoices.map((i) => [
        i.invoiceId,
        i.orderId || "—",
        money(i.amount),
        label(InvoiceStatus, i.status),
        day(i.issuedAt),
        day(i.dueAt),
      ]),
    ),
  );
}

function table(caption: string, heads: string[], rows: (string | Node)[][]): HTMLElement {
  if (rows.length === 0) return none(`${caption}: none.`);
  const head = h("thead", {}, h("tr", {}, heads.map((name) => h("th", { scope: "col" }, name))));
  const body = h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell)))));
  return h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": caption }, h("table", {}, h("caption", {}, caption), head, body));
}

function orders(recent: Order[]): HTMLElement {
  if (recent.length === 0) return none("No orders.");
  return h(
    "div",
    { class: "orders" },
    recent.map((order) =>
      h(
        "article",
        { class: "order", "data-order": order.orderId },
        h(
          "h3",
          {},
          `Order ${order.orderId} · ${label(OrderStatus, order.status)} · ${money(order.total)} · ${day(order.placedAt)}`,
        ),
        table(
          `Lines of order ${order.orderId}`,
          ["Product", "Qty", "Price", "Returned", "Return", ""],
          order.lines.map((line) => [
            `${line.productName} (${line.sku})`,
            String(line.quantity),
            money(line.unitPrice),
            String(line.returnedQuantity),
            eligibility(line),
            checkButton(order.orderId, line),
          ]),
        ),
      ),
    ),
  );
}

function eligibility(line: OrderLine): string {
  const e = line.returnEligibility;
  if (!e) return "—";
  const verdict = e.eligible ? "eligible" : "not eligible";
  const reason = label(ReturnEligibilityReason, e.reason);
  return e.deadline ? `${verdict}: ${reason}, until ${day(e.deadline)}` : `${verdict}: ${reason}`;
}

/** Asks the catalog now whether the line may be returned, and says so beside the button. */
function checkButton(orderId: string, line: OrderLine): HTMLElement {
  const out = h("output", { class: "checked", "aria-live": "polite" });
  const button = h(
    "button",
    {
      type: "button",
      class: "small",
      "aria-label": `Check the return of ${line.productName} in order ${orderId}`,
      onclick: async () => {
        button.disabled = true;
        out.textContent = "checking…";
        try {
          const answer = await catalog.checkReturnEligibility({ orderId, sku: line.sku }, QUICK);
          const e = answer.eligibility;
          out.textContent = e?.eligible
            ? `${answer.returnableQuantity} returnable under ${answer.policy?.displayName ?? "its policy"}`
            : `not returnable: ${label(ReturnEligibilityReason, e?.reason ?? 0)}`;
        } catch (error) {
          out.textContent = explain(error);
        } finally {
          button.disabled = false;
        }
      },
    },
    "Check",
  );
  return h("span", {}, button, " ", out);
}

function shipments(profile: CustomerProfile): HTMLElement {
  const recent = profile.shipments!.recent;
  if (recent.length === 0) return none("No shipments.");
  return table(
    "Recent shipments",
    ["Shipment", "Order", "Carrier", "Tracking", "Status", "Promised", "Delay"],
    recent.map((s) => [
      s.shipmentId,
      s.orderId,
      s.carrier,
      s.trackingNumber,
      label(ShipmentStatus, s.status),
      when(s.promisedAt),
      seconds(s.delay) > 0 ? h("strong", { class: "late" }, `late by ${span(seconds(s.delay))}`) : "on time",
    ]),
  );
}

function timeline(profile: CustomerProfile): HTMLElement {
  const items = [...profile.interactions!.recent].sort(
    (a, b) => Number(b.createdAt?.seconds ?? 0n) - Number(a.createdAt?.seconds ?? 0n),
  );
  if (items.length === 0) return none("No interactions.");
  return h(
    "ol",
    { class: "timeline" },
    items.map((i) =>
      h(
        "li",
        { class: `channel-${label(InteractionChannel, i.channel)}` },
        h("time", { datetime: iso(i.createdAt) }, when(i.createdAt)),
        " ",
        h("span", { class: "badge" }, label(InteractionChannel, i.channel)),
        " ",
        h("span", { class: "subject" }, i.subject),
        " · ",
        label(InteractionStatus, i.status),
        i.priority ? ` · ${label(InteractionPriority, i.priority)} priority` : "",
        i.csat ? ` · rated ${i.csat}/5` : "",
      ),
    ),
  );
}
