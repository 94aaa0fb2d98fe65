// What this agent may offer the open customer, problem by problem, with the reasons behind
// each limit (GetOfferEnvelope), and recording an offer (RecordOffer). The envelope is asked
// again after each recorded offer and whenever the profile changes.

import { QUICK, Code, codeOf, explain, offers } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { label, money, toMinor, when } from "./format.js";
import { OfferKind, OfferState } from "./gen/customer360/v1/offer_pb.js";
import { ProblemKind, type Allowance, type OfferEnvelope, type ProblemOffers } from "./gen/customer360/v1/offer_service_pb.js";

export class OffersPanel {
  private customerId: string | null = null;
  private asked = 0;

  /** Shows what may be offered to `customerId`. */
  async show(customerId: string): Promise<void> {
    this.customerId = customerId;
    const ask = ++this.asked;
    const root = byId("offers");
    try {
      const envelope = await offers.getOfferEnvelope({ customerId }, QUICK);
      if (ask !== this.asked) return;
      fill(root, heading(), body(envelope, (problem, allowance, form) => void this.record(problem, allowance, form)));
    } catch (error) {
      if (ask !== this.asked) return;
      const code = codeOf(error);
      const why =
        code === Code.Unimplemented
          ? "Offers are not switched on at this c360 (its [offers] settings)."
          : code === Code.PermissionDenied
            ? "Your role may not make offers."
            : explain(error);
      fill(root, heading(), h("p", { class: "missing", "data-missing": "true" }, why));
    }
  }

  /** Forgets the customer. */
  clear(): void {
    this.customerId = null;
    this.asked++;
    fill(byId("offers"));
  }

  private async record(problem: ProblemOffers, allowance: Allowance, form: HTMLFormElement): Promise<void> {
    const customerId = this.customerId;
    if (!customerId) return;
    const out = form.querySelector("output")!;
    const input = form.querySelector("input");
    const currency = allowance.mostMoney?.currencyCode ?? "";
    let amount: { currencyCode: string; amountMinor: bigint } | undefined;
    let percent = 0;
    if (allowance.kind === OfferKind.DISCOUNT) {
      percent = Number(input?.value ?? "");
      if (!Number.isInteger(percent) || percent <= 0) {
        out.textContent = "Enter a whole percentage.";
        return;
      }
    } else if (allowance.kind !== OfferKind.FREE_SHIPPING) {
      const minor = toMinor(input?.value ?? "", currency);
      if (minor === null || minor <= 0n) {
        out.textContent = `Enter an amount in ${currency}, such as 12.50.`;
        return;
      }
      amount = { currencyCode: currency, amountMinor: minor };
    }
    try {
      const offer = await offers.recordOffer(
        { customerId, problemId: problem.problemId, kind: allowance.kind, amount, percent, requestId: crypto.randomUUID() },
        QUICK,
      );
      out.textContent =
        offer.state === OfferState.AWAITING_APPROVAL
          ? "Recorded: it awaits a supervisor's approval."
          : `Recorded: ${label(OfferState, offer.state)}.`;
      void this.show(customerId);
    } catch (error) {
      out.textContent = explain(error);
    }
  }
}

function heading(): HTMLElement {
  return h("h2", { id: "offers-title" }, "What you may offer");
}

type OnRecord = (problem: ProblemOffers, allowance: Allowance, form: HTMLFormElement) => void;

function body(envelope: OfferEnvelope, onRecord: OnRecord): HTMLElement {
  return h(
    "div",
    {},
    envelope.budgetLeft && h("p", {}, `Your budget left today: ${money(envelope.budgetLeft)}`),
    envelope.unknown.length > 0 &&
      h("p", { class: "warning" }, `Not known now (their problems are left out): ${envelope.unknown.join(", ")}.`),
    envelope.problems.length === 0
      ? h("p", { class: "none" }, "No open problem to settle.")
      : h(
          "ul",
          { class: "problems" },
          envelope.problems.map((problem) =>
            h(
              "li",
              { class: "problem", "data-problem": problem.problemId },
              h("h3", {}, `${label(ProblemKind, problem.kind)}: ${problem.summary}`),
              problem.since && h("p", {}, `since ${when(problem.since)}`),
              problem.none && h("p", { class: "none" }, problem.none),
              problem.allowances.map((allowance) => allowanceView(problem, allowance, onRecord)),
            ),
          ),
        ),
    envelope.offersMade.length > 0 &&
      h(
        "p",
        {},
        `Offers made: ${envelope.offersMade.map((o) => `${label(OfferKind, o.kind)} (${label(OfferState, o.state)})`).join(", ")}`,
      ),
  );
}

let formCount = 0;

function allowanceView(problem: ProblemOffers, allowance: Allowance, onRecord: OnRecord): HTMLElement {
  const id = `offer-${++formCount}`;
  const kind = label(OfferKind, allowance.kind);
  const reasons = h("details", {}, h("summary", {}, "Why"), h("ul", {}, allowance.reasons.map((r) => h("li", {}, r))));
  if (!allowance.available) {
    return h("div", { class: "allowance unavailable" }, h("p", {}, allowance.says), reasons);
  }
  const field =
    allowance.kind === OfferKind.FREE_SHIPPING
      ? null
      : allowance.kind === OfferKind.DISCOUNT
        ? [h("label", { for: id }, "Percent"), h("input", { id, inputmode: "numeric", size: 4, autocomplete: "off" })]
        : [
            h("label", { for: id }, `Amount (${allowance.mostMoney?.currencyCode ?? ""})`),
            h("input", { id, inputmode: "decimal", size: 8, autocomplete: "off" }),
          ];
  const form: HTMLFormElement = h(
    "form",
    {
      class: "allowance",
      "data-kind": OfferKind[allowance.kind],
      onsubmit: (event: Event) => {
        event.preventDefault();
        onRecord(problem, allowance, form);
      },
    },
    h("p", {}, allowance.says),
    field,
    " ",
    h("button", { type: "submit" }, `Offer ${kind}`),
    " ",
    h("output", { "aria-live": "polite" }),
    reasons,
  );
  return form;
}
