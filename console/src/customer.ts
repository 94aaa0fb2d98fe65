// The open customer: its profile followed live through WatchCustomerProfile. The first answer
// draws every section; each later one redraws only the sections whose bytes changed, marks
// them as changed for a while and says so to screen readers. A dropped stream is opened again
// by itself, with a growing pause, and the page says so while it is away.

import { QUICK, Code, codeOf, customers, explain, onCredential } from "./api.js";
import { announce, byId, fill, h } from "./dom.js";
import type { CustomerProfile } from "./gen/customer360/v1/profile_pb.js";
import { SECTIONS, fingerprint, section, sourcesStrip } from "./profile.js";
import type { SectionName } from "./sources.js";

/** How long a changed section stays marked. */
const MARKED_MS = 6000;

/** Called with each profile the stream brings. */
export type OnProfile = (profile: CustomerProfile) => void;

export class CustomerView {
  private stream: AbortController | null = null;
  private shown = new Map<SectionName, string>();
  private denied = new Set<SectionName>();
  /** Whether `denied` was learned for the credential in use: it depends on the role only. */
  private deniedKnown = false;

  constructor() {
    onCredential(() => {
      this.denied = new Set();
      this.deniedKnown = false;
    });
  }
  private customerId: string | null = null;
  private listeners: OnProfile[] = [];

  /** Calls `listener` with every profile shown. */
  onProfile(listener: OnProfile): void {
    this.listeners.push(listener);
  }

  /** The customer shown, if any. */
  current(): string | null {
    return this.customerId;
  }

  /** Shows customer `id` and follows it until another is opened. */
  async open(id: string): Promise<void> {
    // The role's unreadable sections are asked once per credential (a read naming every
    // section), not on every customer opened.
    this.close();
    this.customerId = id;
    this.shown.clear();
    const root = byId("profile");
    root.hidden = false;
    fill(
      byId("profile-head"),
      h("h2", { id: "profile-title", tabindex: "-1" }, `Customer ${id}`),
      h("p", { id: "live", class: "live", role: "status" }, "Opening…"),
    );
    fill(byId("sections"), SECTIONS.map((name) => h("div", { id: `slot-${name}`, class: "slot" })));
    byId("profile-title").focus();
    if (!this.deniedKnown) {
      const learned = await deniedSections(id);
      if (learned) {
        this.denied = learned;
        this.deniedKnown = true;
      }
    }
    if (this.customerId === id) void this.follow(id);
  }

  /** Stops following the open customer. */
  close(): void {
    this.stream?.abort();
    this.stream = null;
    this.customerId = null;
  }

  private async follow(id: string): Promise<void> {
    const stream = new AbortController();
    this.stream = stream;
    let pause = 500;
    let awaySince: number | null = null;
    while (!stream.signal.aborted) {
      try {
        for await (const profile of customers.watchCustomerProfile(
          { customerId: id },
          { signal: stream.signal },
        )) {
          if (awaySince !== null) announce("Live updates are back.");
          awaySince = null;
          pause = 500;
          this.live("Live: changes appear as they happen.", false);
          this.show(profile);
        }
      } catch (error) {
        if (stream.signal.aborted) return;
        const code = codeOf(error);
        if (code === Code.NotFound || code === Code.InvalidArgument || code === Code.PermissionDenied
          || code === Code.Unauthenticated) {
          this.live(explain(error), true);
          if (this.shown.size === 0) fill(byId("sections"), h("p", { class: "missing" }, explain(error)));
          return;
        }
      }
      if (stream.signal.aborted) return;
      if (awaySince === null) {
        const live = document.getElementById("live");
        if (live) live.dataset.drops = String(Number(live.dataset.drops ?? "0") + 1);
        announce("Live updates lost: reconnecting.");
      }
      awaySince ??= Date.now();
      this.live(
        `Live updates lost ${Math.round((Date.now() - awaySince) / 1000)} s ago; reconnecting… (what is shown may be out of date)`,
        true,
      );
      await sleep(pause, stream.signal);
      pause = Math.min(pause * 2, 5000);
    }
  }

  private live(text: string, away: boolean): void {
    const live = document.getElementById("live");
    if (!live) return;
    live.textContent = text;
    live.classList.toggle("away", away);
  }

  private show(profile: CustomerProfile): void {
    const first = this.shown.size === 0;
    const changed: SectionName[] = [];
    const head = byId("profile-head");
    const strip = head.querySelector(".sources");
    const newStrip = sourcesStrip(profile);
    if (strip) strip.replaceWith(newStrip);
    else head.append(newStrip);
    const name = profile.identity ? `${profile.identity.firstName} ${profile.identity.lastName}` : "";
    byId("profile-title").textContent = name ? `${name} · customer ${profile.customerId}` : `Customer ${profile.customerId}`;
    for (const name of SECTIONS) {
      const print = fingerprint(profile, name);
      if (this.shown.get(name) === print) continue;
      this.shown.set(name, print);
      const element = section(profile, name, this.denied.has(name));
      if (!first) {
        element.classList.add("changed");
        element.dataset.changed = "true";
        setTimeout(() => {
          element.classList.remove("changed");
          delete element.dataset.changed;
        }, MARKED_MS);
        changed.push(name);
      }
      byId(`slot-${name}`).replaceChildren(element);
    }
    if (changed.length) announce(`Updated: ${changed.join(", ")}.`);
    for (const listener of this.listeners) listener(profile);
  }
}

/** The sections the caller's role may not read, as c360 names them when asked for all;
 * null when the answer does not tell (an unknown customer, a backend down). */
async function deniedSections(id: string): Promise<Set<SectionName> | null> {
  try {
    await customers.getCustomerProfile({ customerId: id, readMask: { paths: [...SECTIONS] } }, QUICK);
    return new Set();
  } catch (error) {
    if (codeOf(error) !== Code.PermissionDenied) return null;
    const named = /sections (.+)$/.exec(explain(error));
    const names = (named?.[1] ?? "").split(/,\s*/);
    return new Set(SECTIONS.filter((s) => names.includes(s)));
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
