// The agent's flow in a real browser (Debian's Chromium, driven by playwright-core), against
// a real c360 that tests/api/console.rs starts over seeded data. That test hands this script
// what it seeded (argv[2], JSON) and answers its "STEP name" lines on stdin with "GO" once it
// has done its part (a change committed, a backend stopped). Each check that fails ends the
// script with a message and a non-zero exit; the last line is "RESULT {json}", the figures.

import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { check, inBrowser, step } from "./browser.mjs";

const plan = JSON.parse(process.argv[2]);
const shots = plan.screenshots;
mkdirSync(shots, { recursive: true });

const figures = {};
await inBrowser("agent", shots, async (page) => {
  const response = await page.goto(plan.url);
  const headers = response.headers();
  check(/script-src 'self'/.test(headers["content-security-policy"] ?? ""), "the page has no CSP");
  await page.waitForSelector("#queue-state");

  // A shared phone number, written another way, by keyboard alone: both customers listed.
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("/");
  check(await page.evaluate(() => document.activeElement?.id === "search"), "/ does not reach the search box");
  await page.keyboard.type(plan.phone);
  await page.keyboard.press("Enter");
  await page.waitForSelector("button.match");
  const found = await page.$$eval("button.match", (bs) => bs.map((b) => b.dataset.customer));
  check(
    JSON.stringify([...found].sort()) === JSON.stringify([...plan.sharing].sort()),
    `the phone ${plan.phone} found ${found}, not ${plan.sharing}`,
  );
  await page.screenshot({ path: `${shots}/matches.png` });
  // The first match has the focus: Enter opens it.
  await page.keyboard.press("Enter");
  await page.waitForSelector(`[data-section="identity"] [data-name]`);
  check((await page.title()) !== "", "the page has a title");

  // A customer by id: every section shown, every backend OK.
  await page.keyboard.press("/");
  await page.fill("#search", `customer ${plan.customer}`);
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    (id) => document.getElementById("profile-title")?.textContent?.endsWith(`customer ${id}`)
      && document.querySelectorAll("#sections [data-section]").length === 6,
    plan.customer,
  );
  const sections = await page.$$eval("#sections [data-section]", (ss) => ss.map((s) => s.dataset.section));
  check(sections.join() === "identity,insights,billing,orders,shipments,interactions", `sections: ${sections}`);
  const missing = await page.$$eval("[data-missing]", (ms) => ms.map((m) => m.textContent));
  check(missing.length === 0, `sections missing on a healthy profile: ${missing}`);
  const statuses = await page.$$eval("[data-source]", (ss) => ss.map((s) => `${s.dataset.source}=${s.dataset.status}`));
  check(statuses.length === 4 && statuses.every((s) => s.endsWith("=OK")), `statuses: ${statuses}`);
  await page.screenshot({ path: `${shots}/profile.png`, fullPage: true });

  // The late parcel is in the queue, first; claimed by keyboard, its customer opens.
  const late = `.queue-item[data-customer="${plan.late}"][data-reason="LATE_SHIPMENT"]`;
  await page.waitForSelector(late, { timeout: 15000 });
  const first = await page.$eval(".queue-item", (i) => i.dataset.customer);
  check(first === String(plan.late), `the most overdue item is customer ${first}, not ${plan.late}`);
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("q");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  check(focused === "Claim", `Tab from the queue reaches ${focused}, not the first Claim`);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#claim h2");
  await page.waitForFunction(
    (id) => document.getElementById("profile-title")?.textContent?.endsWith(`customer ${id}`),
    plan.late,
  );
  await page.waitForSelector(`[data-problem^="late_shipment/"]`);
  await page.screenshot({ path: `${shots}/claimed.png`, fullPage: true });

  // The customer's history searched from the page: romanised Hindi finds the Devanagari,
  // the tracking number is marked.
  await page.locator("#history-query").focus();
  await page.keyboard.type("DH9900101 nahi aaya");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#history-hits .hit mark", { timeout: 5000 });
  const marks = await page.$$eval("#history-hits .hit mark", (ms) => ms.map((m) => m.textContent));
  check(marks.join() === "DH9900101,नहीं,आया", `the history search marked ${marks}`);
  await page.screenshot({ path: `${shots}/history.png`, fullPage: true });

  // The claim warns before its lease lapses (WCAG 2.2.1), and one key extends it.
  await page.waitForSelector("#lease-warning:not([hidden])", { timeout: 15000 });
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("e");
  await page.waitForSelector("#lease-warning[hidden]", { state: "attached", timeout: 5000 });

  // Offers: free shipping for the late parcel, recorded from the page by keyboard (after
  // the claim's buttons, Tab reaches the offers).
  await page.locator("#claim-title").focus();
  let offered = false;
  for (let i = 0; i < 20 && !offered; i++) {
    await page.keyboard.press("Tab");
    offered = (await page.evaluate(() => document.activeElement?.textContent)) === "Offer free shipping";
  }
  check(offered, "Tab does not reach the offer of free shipping");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#offers output, #offers p")].some((o) => /Recorded|Offers made/.test(o.textContent ?? "")),
  );

  // A change committed to the database appears on the open profile, marked, within 2 s.
  await step("rename");
  const renamed = Date.now();
  await page.waitForFunction(
    (name) => document.querySelector(`[data-section="identity"] [data-name]`)?.textContent?.startsWith(name),
    plan.newName,
    { timeout: 2000 },
  );
  figures.changeShownMs = Date.now() - renamed;
  check(await page.$(`[data-section="identity"][data-changed]`), "the changed section is not marked");
  await page.screenshot({ path: `${shots}/changed.png` });

  // A dropped stream: the page says so while it is away, and comes back by itself.
  await step("drop-watches");
  await page.waitForSelector(`#live[data-drops="1"]`, { state: "attached", timeout: 10000 });
  await page.waitForSelector("#live:not(.away)", { timeout: 15000 });

  // The claim resolved by keyboard: Tab reaches the outcome, Enter records it.
  await page.locator("#claim-title").focus();
  let reached = false;
  for (let i = 0; i < 10 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = (await page.evaluate(() => document.activeElement?.textContent)) === "Resolved: contacted";
  }
  check(reached, "Tab does not reach the claim's outcome");
  await page.keyboard.press("Enter");
  await page.waitForSelector(late, { state: "detached", timeout: 5000 });

  // Accessibility: axe-core at WCAG 2.2 AA, on the profile with the queue beside it.
  const require = createRequire(import.meta.url);
  await page.evaluate(readFileSync(require.resolve("axe-core/axe.min.js"), "utf8"));
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] },
    });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join("; ")})`);
  });
  check(violations.length === 0, `axe: ${violations.join("\n")}`);

  // A stopped backend: a customer read now shows billing's status instead of its section.
  await step("stop-billing");
  await page.keyboard.press("/");
  await page.fill("#search", `customer ${plan.unread}`);
  await page.keyboard.press("Enter");
  await page.waitForSelector(`[data-section="billing"] [data-missing]`, { timeout: 10000 });
  const billing = await page.$eval(`[data-source="billing"]`, (s) => s.dataset.status);
  check(["TIMEOUT", "CIRCUIT_OPEN", "UNAVAILABLE"].includes(billing), `billing is ${billing}`);
  const why = await page.$eval(`[data-section="billing"] [data-missing]`, (m) => m.textContent);
  check(why.toLowerCase().includes("billing") && why.includes(billing), `the billing section says: ${why}`);
  await page.screenshot({ path: `${shots}/backend-down.png`, fullPage: true });
});
console.log(`RESULT ${JSON.stringify(figures)}`);
process.exit(0);
