// The agent's console: find a customer, see the whole of them live, work the attention queue,
// make offers within the role's limits. Everything goes through c360's public API.

import "./style.css";
import { explain, hasCredential, onCredential, setCredential } from "./api.js";
import { AttentionQueue } from "./attention.js";
import { CustomerView } from "./customer.js";
import { announce, byId, fill, h } from "./dom.js";
import { label } from "./format.js";
import { CustomerTier } from "./gen/customer360/v1/profile_pb.js";
import { HistoryPanel } from "./history.js";
import { OffersPanel } from "./offers.js";
import { find, parse, type Match } from "./search.js";
import { Shortcuts } from "./shortcuts.js";

const view = new CustomerView();
const offersPanel = new OffersPanel();
const historyPanel = new HistoryPanel();
const queue = new AttentionQueue((id) => void openCustomer(id));

// What may be offered depends on the profile: asked again each time it changes.
view.onProfile((profile) => {
  void offersPanel.show(profile.customerId);
  historyPanel.show(profile.customerId);
});

async function openCustomer(id: string): Promise<void> {
  fill(byId("matches"));
  byId("search-state").textContent = "";
  const started = performance.now();
  await view.open(id);
  performance.mark("c360:profile-open", { detail: { ms: performance.now() - started } });
}

async function search(text: string): Promise<void> {
  const state = byId("search-state");
  const query = parse(text);
  if (query.kind === "unclear") {
    state.textContent = query.why;
    return;
  }
  performance.mark("c360:search");
  state.textContent = "Searching…";
  let matches: Match[];
  try {
    matches = await find(query);
  } catch (error) {
    state.textContent = explain(error);
    return;
  }
  if (matches.length === 0) {
    state.textContent = "Nobody matches.";
    fill(byId("matches"));
    return;
  }
  if (matches.length === 1) {
    await openCustomer(matches[0].customerId);
    return;
  }
  state.textContent = `${matches.length} customers match: choose one.`;
  view.close();
  byId("profile").hidden = true;
  offersPanel.clear();
  historyPanel.clear();
  fill(
    byId("matches"),
    h(
      "ul",
      { class: "matches", "aria-label": "Matching customers" },
      matches.map((m) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", class: "match", "data-customer": m.customerId, onclick: () => void openCustomer(m.customerId) },
            m.identity ? `${m.identity.firstName} ${m.identity.lastName}` : `Customer ${m.customerId}`,
            h(
              "span",
              { class: "match-detail" },
              ` · customer ${m.customerId}`,
              m.identity ? ` · ${label(CustomerTier, m.identity.tier)} · ${m.identity.email}` : "",
              ` · by ${m.because}`,
            ),
          ),
        ),
      ),
    ),
  );
  byId("matches").querySelector<HTMLButtonElement>("button")?.focus();
  announce(`${matches.length} customers match.`);
}

byId<HTMLFormElement>("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void search(byId<HTMLInputElement>("search").value);
});

// The credential: asked for in a dialog, kept in memory only.
const signIn = byId<HTMLDialogElement>("sign-in-dialog");
byId("sign-in").addEventListener("click", () => {
  byId<HTMLInputElement>("credential").value = "";
  signIn.showModal();
});
// Taken as the form is submitted (Enter, or a button), before the dialog's close event.
byId<HTMLFormElement>("sign-in-form").addEventListener("submit", (event) => {
  const choice = (event.submitter as HTMLButtonElement | null)?.value ?? "sign-in";
  if (choice === "sign-in") setCredential(byId<HTMLInputElement>("credential").value);
  if (choice === "sign-out") setCredential(null);
  byId<HTMLInputElement>("credential").value = "";
});
onCredential(() => {
  byId("sign-in").textContent = hasCredential() ? "Signed in · change" : "Sign in";
  void queue.start();
  const open = view.current();
  if (open) void openCustomer(open);
});

new Shortcuts({
  search: () => byId<HTMLInputElement>("search").focus(),
  queue: () => byId("queue-title").focus(),
  extend: () => void queue.extend(),
  help: () => byId("shortcuts-open").click(),
});

void queue.start();
byId<HTMLInputElement>("search").focus();
