// The open customer's whole history searched (SearchHistory): every chat, ticket, email and
// call transcript, and the agents' notes, best first, the words found marked. The answer stays
// while the profile changes live; a new customer clears it.

import { QUICK, Code, codeOf, explain, history } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { label, when } from "./format.js";
import { HistoryAuthor, HistoryMessageKind, type HistoryHit } from "./gen/customer360/v1/history_service_pb.js";
import { InteractionChannel } from "./gen/customer360/v1/profile_pb.js";

export class HistoryPanel {
  private customerId: string | null = null;
  private asked = 0;

  /** Offers a search of `customerId`'s history (kept as it is for the same customer). */
  show(customerId: string): void {
    if (customerId === this.customerId) return;
    this.customerId = customerId;
    this.asked++;
    const form = h(
      "form",
      { class: "history-form", role: "search", onsubmit: (event: Event) => this.submit(event) },
      h("label", { for: "history-query" }, "Search this customer's messages"),
      h("input", { id: "history-query", name: "query", type: "search", autocomplete: "off", maxlength: 500 }),
      h("button", { type: "submit" }, "Search"),
    );
    fill(byId("history"), h("h2", { id: "history-title" }, "History"), form, h("div", { id: "history-hits", "aria-live": "polite" }));
  }

  /** Forgets the customer. */
  clear(): void {
    this.customerId = null;
    this.asked++;
    fill(byId("history"));
  }

  private submit(event: Event): void {
    event.preventDefault();
    const input = byId<HTMLInputElement>("history-query");
    void this.search(input.value);
  }

  private async search(query: string): Promise<void> {
    const customerId = this.customerId;
    if (!customerId) return;
    const ask = ++this.asked;
    const out = byId("history-hits");
    fill(out, h("p", { role: "status" }, "Searching…"));
    try {
      const found = await history.searchHistory({ customerId, query, pageSize: 20 }, QUICK);
      if (ask !== this.asked) return;
      const said =
        found.hits.length === 0
          ? "No message matches."
          : `${found.hits.length} of ${found.totalSize} messages that match, best first.`;
      fill(out, h("p", { role: "status" }, said), h("ol", { class: "hits" }, found.hits.map(hit)));
    } catch (error) {
      if (ask !== this.asked) return;
      const code = codeOf(error);
      const why =
        code === Code.Unimplemented
          ? "History search is not switched on at this c360 (its [search] settings)."
          : code === Code.PermissionDenied
            ? "Your role may not search histories."
            : explain(error);
      fill(out, h("p", { class: "missing", "data-missing": "true" }, why));
    }
  }
}

function hit(found: HistoryHit): HTMLElement {
  const who = label(HistoryAuthor, found.author);
  const what = label(HistoryMessageKind, found.kind);
  return h(
    "li",
    { class: "hit", "data-message": found.messageId },
    h(
      "p",
      { class: "hit-head" },
      `${when(found.sentAt)} · ${label(InteractionChannel, found.channel)} ${found.interactionId} · ${what} by the ${who}`,
    ),
    h(
      "p",
      { class: "snippet" },
      found.snippet.map((part) => (part.matched ? h("mark", {}, part.text) : part.text)),
    ),
  );
}
