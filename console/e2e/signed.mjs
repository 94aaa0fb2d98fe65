// The console with authentication on, in a real browser: nothing is read until the agent
// gives a token; the token lives in the page's memory only; sections, the queue and offers
// the role may not read are marked as such, never blank. tests/api/console.rs starts c360
// and hands this script its plan (argv[2], JSON): the URL, a token, a customer.

import { mkdirSync } from "node:fs";
import { check, inBrowser } from "./browser.mjs";

const plan = JSON.parse(process.argv[2]);
mkdirSync(plan.screenshots, { recursive: true });

await inBrowser("signed", plan.screenshots, async (page) => {
  await page.goto(plan.url);
  await page.waitForFunction(() => /credential/.test(document.getElementById("queue-state")?.textContent ?? ""));
  await page.fill("#search", `customer ${plan.customer}`);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => /credential/.test(document.getElementById("search-state")?.textContent ?? ""));

  // Signing in by keyboard: the dialog, the token, Enter.
  await page.click("#sign-in");
  await page.waitForSelector("#sign-in-dialog[open]");
  check(await page.evaluate(() => document.activeElement?.id === "credential"), "the dialog does not focus the token field");
  await page.keyboard.type(plan.token);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#sign-in-dialog:not([open])", { state: "attached" });

  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("/");
  await page.fill("#search", `customer ${plan.customer}`);
  await page.keyboard.press("Enter");
  await page.waitForSelector(`[data-section="identity"] [data-name]`);
  await page.waitForSelector(`#offers [data-missing]`);
  const marked = await page.$$eval("[data-section]", (ss) =>
    ss.filter((s) => /your role may not read/.test(s.textContent ?? "")).map((s) => s.dataset.section),
  );
  check(marked.sort().join() === plan.denied.sort().join(), `sections marked as not readable: ${marked}, not ${plan.denied}`);
  for (const readable of ["identity", "orders", "shipments", "interactions"]) {
    check(await page.$(`[data-section="${readable}"]:not(:has([data-missing]))`), `${readable} is not shown`);
  }
  const offers = await page.$eval("#offers [data-missing]", (m) => m.textContent);
  check(/role may not/.test(offers), `the offers panel says: ${offers}`);
  const queue = await page.$eval("#queue-state", (q) => q.textContent);
  check(/role may not/i.test(queue), `the queue says: ${queue}`);

  // The token is nowhere but in memory.
  const kept = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  check(!kept.includes(plan.token.slice(-16)), "the token was stored");
  await page.screenshot({ path: `${plan.screenshots}/signed-in.png`, fullPage: true });

  // Another credential, whose role may do everything: services this c360 does not run say
  // so, rather than failing.
  await page.click("#sign-in");
  await page.fill("#credential", plan.adminToken);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => /not switched on/.test(document.getElementById("queue-state")?.textContent ?? ""));
  await page.waitForFunction(() => /not switched on/.test(document.querySelector("#offers [data-missing]")?.textContent ?? ""));
  await page.waitForSelector(`[data-section="billing"] dl`);

  // Single-key shortcuts remapped, then switched off (WCAG 2.1.4).
  const searchFocused = () => page.evaluate(() => document.activeElement?.id === "search");
  await page.click("#shortcuts-open");
  await page.fill("#key-search", "s");
  await page.click(`#shortcuts-form button[value="save"]`);
  await page.waitForFunction(() => document.querySelector(`kbd[data-key="search"]`)?.textContent === "s");
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("/");
  check(!(await searchFocused()), "/ still reaches the search box after it was remapped");
  await page.keyboard.press("s");
  check(await searchFocused(), "the remapped key does not reach the search box");
  await page.click("#shortcuts-open");
  await page.uncheck("#shortcuts-on");
  await page.click(`#shortcuts-form button[value="save"]`);
  await page.waitForFunction(() => document.querySelector(`kbd[data-key="search"]`)?.textContent === "—");
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("s");
  check(!(await searchFocused()), "a shortcut acted while shortcuts are off");
});
process.exit(0);
