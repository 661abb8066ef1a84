// Drives the atomiton web page in Debian's headless chromium (called by test_web_page.py):
// start the stored Blueprint "quick" and wait for every node to turn green, then start "slow"
// and cancel it. Prints one JSON summary line; screenshots go to the folder given.
import { chromium } from "playwright-core";

const [url, token, outDir] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const summary = { errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (err) => summary.errors.push(String(err)));
  await page.goto(`${url}/#token=${token}`);
  await page.waitForSelector('[data-testid="flow-item"]');
  summary.flows = await page.$$eval('[data-testid="flow-item"]', (items) => items.map((i) => i.dataset.flowId));

  await page.click('[data-flow-id="quick"] [data-testid="start-flow"]');
  await page.waitForSelector('[data-testid="graph-node"]');
  summary.seenRunning = await page.waitForSelector('[data-testid="graph-node"][data-state="running"]', { timeout: 10000 })
    .then(() => true, () => false);
  await page.waitForFunction(() => {
    const nodes = [...document.querySelectorAll('[data-testid="graph-node"]')];
    return nodes.length > 0 && nodes.every((n) => n.dataset.state === "succeeded");
  }, null, { timeout: 20000 });
  summary.quickStates = await page.$$eval('[data-testid="graph-node"]', (ns) => ns.map((n) => n.dataset.state));
  summary.quickStatus = await page.textContent('[data-testid="run-status"]');
  await page.screenshot({ path: `${outDir}/web-page-succeeded.png`, fullPage: true });

  await page.click('[data-flow-id="slow"] [data-testid="start-flow"]');
  await page.waitForSelector('[data-testid="graph-node"][data-state="running"]', { timeout: 10000 });
  await page.click('[data-testid="cancel-run"]');
  await page.waitForSelector('[data-testid="run-status"][data-state="cancelled"]', { timeout: 20000 });
  summary.slowStates = await page.$$eval('[data-testid="graph-node"]', (ns) => ns.map((n) => n.dataset.state));
  await page.waitForSelector('[data-testid="run-item"] .badge[data-state="cancelled"]', { timeout: 10000 });
  summary.runs = await page.$$eval('[data-testid="run-item"]', (items) =>
    items.map((i) => i.querySelector(".badge").dataset.state));
  await page.screenshot({ path: `${outDir}/web-page-cancelled.png`, fullPage: true });
} catch (err) {
  summary.errors.push(String(err));
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
