// The attention queue: who needs contact now, most overdue first, followed live through
// WatchAttention. An agent claims an item (the customer opens), keeps the claim's lease alive
// (a warning before it lapses, extended with one key), and records the outcome.

import { timestampDate } from "@bufbuild/protobuf/wkt";
import { QUICK, Code, attention, codeOf, explain } from "./api.js";
import { announce, byId, fill, h } from "./dom.js";
import { label, seconds, span } from "./format.js";
import {
  AttentionEvent_Kind,
  AttentionOutcome,
  AttentionReason,
  type AttentionItem,
} from "./gen/customer360/v1/attention_service_pb.js";
import { CustomerTier } from "./gen/customer360/v1/profile_pb.js";

/** How long before a lease lapses the agent is warned. */
const WARN_BEFORE_MS = 30_000;

const keyOf = (item: AttentionItem) => `${item.customerId}|${item.reason}|${item.cause}`;

export class AttentionQueue {
  private items = new Map<string, AttentionItem>();
  private held: AttentionItem | null = null;
  private ticker: number | undefined;
  private stream: AbortController | null = null;
  private drawing = false;

  constructor(private readonly openCustomer: (id: string) => void) {}

  /** Follows the queue until `stop`; reconnects after a drop. */
  async start(): Promise<void> {
    this.stop();
    const stream = new AbortController();
    this.stream = stream;
    let pause = 500;
    while (!stream.signal.aborted) {
      const fresh = new Map<string, AttentionItem>();
      let snapshot = true;
      try {
        for await (const event of attention.watchAttention({}, { signal: stream.signal })) {
          pause = 500;
          const target = snapshot ? fresh : this.items;
          switch (event.kind) {
            case AttentionEvent_Kind.ADDED:
            case AttentionEvent_Kind.CHANGED:
              if (event.item) target.set(keyOf(event.item), event.item);
              break;
            case AttentionEvent_Kind.REMOVED:
              if (event.item) target.delete(keyOf(event.item));
              break;
            case AttentionEvent_Kind.SNAPSHOT_END:
              snapshot = false;
              this.items = fresh;
              break;
          }
          if (!snapshot) this.schedule();
        }
      } catch (error) {
        if (stream.signal.aborted) return;
        const code = codeOf(error);
        if (code === Code.Unimplemented) {
          this.state("The attention queue is not switched on at this c360 (its [attention] settings).", true);
          fill(byId("queue-items"));
          return;
        }
        if (code === Code.PermissionDenied || code === Code.Unauthenticated) {
          this.state(code === Code.PermissionDenied ? "Your role may not see the attention queue." : explain(error), true);
          fill(byId("queue-items"));
          return;
        }
      }
      if (stream.signal.aborted) return;
      this.state("Queue updates lost; reconnecting…", true);
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 5000);
    }
  }

  /** Draws the queue at the next frame: a burst of events is drawn once. */
  private schedule(): void {
    if (this.drawing) return;
    this.drawing = true;
    requestAnimationFrame(() => {
      this.drawing = false;
      this.render();
    });
  }

  stop(): void {
    this.stream?.abort();
    this.stream = null;
  }

  private state(text: string, away: boolean): void {
    const state = byId("queue-state");
    state.textContent = text;
    state.classList.toggle("away", away);
  }

  private render(): void {
    const items = [...this.items.values()].sort(
      (a, b) => Number(a.dueTime?.seconds ?? 0n) - Number(b.dueTime?.seconds ?? 0n),
    );
    this.state(`${items.length} open, most overdue first. Live.`, false);
    fill(
      byId("queue-items"),
      items.length === 0
        ? h("p", { class: "none" }, "Nobody needs contact now.")
        : h(
            "ol",
            { class: "queue" },
            items.slice(0, 100).map((item) =>
              h(
                "li",
                { class: "queue-item", "data-customer": item.customerId, "data-reason": AttentionReason[item.reason] },
                h(
                  "p",
                  {},
                  h("strong", {}, label(AttentionReason, item.reason)),
                  ` · customer ${item.customerId} (${label(CustomerTier, item.tier)}) · `,
                  seconds(item.overdue) > 0 ? `overdue ${span(seconds(item.overdue))}` : `due in ${span(-seconds(item.overdue))}`,
                ),
                h("p", { class: "evidence" }, item.evidence),
                h("p", { class: "next" }, item.nextAction),
                item.claimedBy
                  ? h("p", { class: "claimed" }, `Claimed by ${item.claimedBy}`)
                  : h(
                      "button",
                      {
                        type: "button",
                        "aria-label": `Claim: ${label(AttentionReason, item.reason)}, customer ${item.customerId}`,
                        onclick: () => void this.claim(item),
                      },
                      "Claim",
                    ),
              ),
            ),
          ),
    );
  }

  private async claim(item: AttentionItem): Promise<void> {
    try {
      const claimed = await attention.claimAttention({ key: keyFor(item) }, QUICK);
      this.hold(claimed);
      announce(`Claimed. Customer ${item.customerId} opens.`);
      this.openCustomer(item.customerId);
    } catch (error) {
      announce(explain(error));
      byId("queue-state").textContent = explain(error);
    }
  }

  /** Extends the held claim's lease, if there is one (the `e` key). */
  async extend(): Promise<void> {
    if (!this.held) return;
    try {
      this.hold(await attention.renewAttention({ key: keyFor(this.held), version: this.held.version }, QUICK));
      announce("Claim extended.");
    } catch (error) {
      this.drop(explain(error));
    }
  }

  private async resolve(outcome: AttentionOutcome): Promise<void> {
    if (!this.held) return;
    try {
      await attention.resolveAttention({ key: keyFor(this.held), version: this.held.version, outcome }, QUICK);
      this.drop(`Recorded: ${label(AttentionOutcome, outcome)}.`);
    } catch (error) {
      this.drop(explain(error));
    }
  }

  private async release(): Promise<void> {
    if (!this.held) return;
    try {
      await attention.releaseAttention({ key: keyFor(this.held), version: this.held.version }, QUICK);
      this.drop("Released: the item is back in the queue.");
    } catch (error) {
      this.drop(explain(error));
    }
  }

  private hold(item: AttentionItem): void {
    this.held = item;
    window.clearInterval(this.ticker);
    this.ticker = window.setInterval(() => this.tick(), 1000);
    const panel = byId("claim");
    panel.hidden = false;
    fill(
      panel,
      h("h2", { id: "claim-title", tabindex: "-1" }, `Working on: ${label(AttentionReason, item.reason)} · customer ${item.customerId}`),
      h("p", {}, item.evidence),
      h("p", { id: "lease", role: "timer", "aria-live": "off" }),
      h("p", { id: "lease-warning", class: "warning", role: "alert", hidden: true }),
      h(
        "div",
        { class: "buttons", role: "group", "aria-labelledby": "claim-title" },
        h("button", { type: "button", onclick: () => void this.extend() }, "Extend lease"),
        h("button", { type: "button", onclick: () => void this.resolve(AttentionOutcome.CONTACTED) }, "Resolved: contacted"),
        h("button", { type: "button", onclick: () => void this.resolve(AttentionOutcome.OFFER_MADE) }, "Resolved: offer made"),
        h("button", { type: "button", onclick: () => void this.resolve(AttentionOutcome.NO_ACTION) }, "Resolved: no action"),
        h("button", { type: "button", class: "secondary", onclick: () => void this.release() }, "Release"),
      ),
    );
    this.tick();
  }

  private tick(): void {
    if (!this.held?.leaseExpireTime) return;
    const left = timestampDate(this.held.leaseExpireTime).getTime() - Date.now();
    const lease = document.getElementById("lease");
    const warning = document.getElementById("lease-warning");
    if (!lease || !warning) return;
    if (left <= 0) {
      this.drop("Your claim lapsed: the item is back in the queue.");
      return;
    }
    lease.textContent = `Your claim holds for ${span(left / 1000)}.`;
    const warn = left <= WARN_BEFORE_MS;
    if (warn && warning.hidden) {
      warning.hidden = false;
      warning.textContent = `Your claim lapses in ${span(left / 1000)}: press E (or “Extend lease”) to keep it.`;
    } else if (!warn) {
      warning.hidden = true;
    }
  }

  private drop(message: string): void {
    this.held = null;
    window.clearInterval(this.ticker);
    const panel = byId("claim");
    fill(panel, h("p", { role: "status" }, message));
  }
}

function keyFor(item: AttentionItem) {
  return { customerId: item.customerId, reason: item.reason, cause: item.cause };
}
