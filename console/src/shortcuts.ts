// Single-key shortcuts, which an agent can turn off or remap (WCAG 2.1.4). They act only when
// no text field has the focus. The choice is kept in the browser's storage: it holds no
// personal data.

import { byId, fill, h } from "./dom.js";

export type Action = "search" | "queue" | "extend" | "help";

const DESCRIPTIONS: Record<Action, string> = {
  search: "Go to the search box",
  queue: "Go to the attention queue",
  extend: "Extend your claim's lease",
  help: "Show these shortcuts",
};

const DEFAULTS: Record<Action, string> = { search: "/", queue: "q", extend: "e", help: "?" };
const STORAGE = "c360.console.shortcuts";

interface Choice {
  on: boolean;
  keys: Record<Action, string>;
}

function load(): Choice {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE) ?? "null") as Partial<Choice> | null;
    if (saved && typeof saved.on === "boolean" && saved.keys) {
      return { on: saved.on, keys: { ...DEFAULTS, ...saved.keys } };
    }
  } catch {
    // A choice that does not read is the default.
  }
  return { on: true, keys: { ...DEFAULTS } };
}

export class Shortcuts {
  private choice = load();

  constructor(private readonly handlers: Record<Action, () => void>) {
    document.addEventListener("keydown", (event) => this.key(event));
    byId("shortcuts-open").addEventListener("click", () => this.edit());
    // Applied as the form is submitted, not on the dialog's close event, which comes a task
    // later: a key pressed at once already meets the new choice.
    byId<HTMLFormElement>("shortcuts-form").addEventListener("submit", (event) => {
      if ((event.submitter as HTMLButtonElement | null)?.value === "save") this.save();
    });
    this.label();
  }

  private key(event: KeyboardEvent): void {
    if (!this.choice.on || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target as HTMLElement | null;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (document.querySelector("dialog[open]")) return;
    const action = (Object.keys(this.choice.keys) as Action[]).find((a) => this.choice.keys[a] === event.key);
    if (!action) return;
    event.preventDefault();
    this.handlers[action]();
  }

  /** Opens the dialog that turns the shortcuts off or remaps them. */
  edit(): void {
    byId<HTMLInputElement>("shortcuts-on").checked = this.choice.on;
    fill(
      byId("shortcut-keys"),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Action"), h("th", { scope: "col" }, "Key"))),
        h(
          "tbody",
          {},
          (Object.keys(DESCRIPTIONS) as Action[]).map((action) =>
            h(
              "tr",
              {},
              h("td", {}, h("label", { for: `key-${action}` }, DESCRIPTIONS[action])),
              h("td", {}, h("input", { id: `key-${action}`, value: this.choice.keys[action], maxlength: 1, size: 2 })),
            ),
          ),
        ),
      ),
    );
    byId<HTMLDialogElement>("shortcuts-dialog").showModal();
  }

  private save(): void {
    const keys = { ...this.choice.keys };
    for (const action of Object.keys(DESCRIPTIONS) as Action[]) {
      const value = byId<HTMLInputElement>(`key-${action}`).value;
      if (value.length === 1) keys[action] = value;
    }
    this.choice = { on: byId<HTMLInputElement>("shortcuts-on").checked, keys };
    localStorage.setItem(STORAGE, JSON.stringify(this.choice));
    this.label();
  }

  private label(): void {
    for (const kbd of document.querySelectorAll<HTMLElement>("kbd[data-key]")) {
      const action = kbd.dataset.key as Action;
      kbd.textContent = this.choice.on ? this.choice.keys[action] : "—";
    }
  }
}
