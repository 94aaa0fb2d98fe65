// What the browser tests share: Debian's Chromium launched as this machine allows (no
// sandbox as root, no background networking on a closed network), a page that records its
// own errors, checks that fail with a message, and the steps the Rust side answers.

import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

/** Throws `message` unless `condition`. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Says "STEP name" and waits for the test's "GO": it has done its part. */
export async function step(name) {
  console.log(`STEP ${name}`);
  const { value, done } = await lines.next();
  if (done || value.trim() !== "GO") throw new Error(`the test did not answer step ${name}`);
}

/** Runs `flow(page, problems)` in a fresh browser; on failure saves `failure-<name>.png`. */
export async function inBrowser(name, shots, flow) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => {
    // The browser asks for /favicon.ico, which the console does not have.
    if (m.type() === "error" && !/status of 404/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page: ${e.message}`));
  try {
    const result = await flow(page);
    check(problems.length === 0, `the page logged errors:\n${problems.join("\n")}`);
    return result;
  } catch (error) {
    await page.screenshot({ path: `${shots}/failure-${name}.png`, fullPage: true }).catch(() => {});
    const said = await page
      .evaluate(() => ["search-state", "queue-state", "live"].map((id) => document.getElementById(id)?.textContent))
      .catch(() => []);
    console.error(`the page said: ${said.join(" | ")}\nits errors: ${problems.join("\n")}`);
    throw error;
  } finally {
    await browser.close();
  }
}
