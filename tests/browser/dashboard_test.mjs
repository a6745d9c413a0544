// The dashboard of a running workflow in headless Chromium (started by
// run_dashboard_test.sh): the counts, the jobs table (and its filters), the
// timeline and a job's log show what the API says; the token leaves the
// address bar; a page without a token gets no data. Saves OUT_DIR/dashboard.png.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const { TORC_URL: url, TORC_TOKEN: token, OUT_DIR: outDir, NPM_DIR: npmDir } = process.env;
const { chromium } = createRequire(path.join(npmDir, "package.json"))("playwright-core");

let failures = 0, passes = 0;
function check(cond, what, detail) {
  if (cond) { passes++; return; }
  failures++;
  console.error("FAIL: " + what + (detail === undefined ? "" : ": " + JSON.stringify(detail)));
}

async function api(p) {
  const r = await fetch(url + "/api/v1" + p, { headers: { Authorization: "Bearer " + token } });
  if (!r.ok) throw new Error(p + ": HTTP " + r.status + " " + (await r.text()));
  return r.json();
}

async function waitFor(what, fn, seconds = 120) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// The workflow settles with 6 completed, 1 failed, 2 running (sleep 600), 1 blocked.
const summary = await waitFor("the workflow to settle", async () => {
  const s = await api("/workflows/1");
  return s.counts.completed === 6 && s.counts.failed === 1 && s.counts.running === 2 ? s : null;
});
check(summary.counts.blocked === 1, "one blocked job", summary.counts);

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
                                        args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const consoleErrors = [];
  // HTTP errors the page handles (the 400 of a bad regex) show up as "Failed to load resource".
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  // Everything comes from the server itself: no CDN, no other host.
  const foreign = [];
  page.on("request", (r) => { if (!r.url().startsWith(url + "/") && !r.url().startsWith("data:")) foreign.push(r.url()); });
  await page.goto(url + "/#token=" + token + "&workflow=1");
  await page.waitForSelector("body[data-loaded=true]", { timeout: 30000 });

  // The token left the address bar, and stays in this tab's sessionStorage.
  check(!page.url().includes(token), "token removed from the URL", page.url());
  check(await page.evaluate(() => sessionStorage.getItem("torc_token")) === token, "token in sessionStorage");

  // Counts: every state as the API says.
  const api_counts = (await api("/workflows/1")).counts;
  const page_counts = await page.$$eval("#counts [data-state]", (els) =>
    Object.fromEntries(els.map((e) => [e.dataset.state, Number(e.dataset.count)])));
  const sorted = (o) => JSON.stringify(Object.entries(o).sort());
  check(Object.keys(api_counts).length === 9 && sorted(page_counts) === sorted(api_counts), "state counts",
        { page_counts, api_counts });
  check((await page.textContent("#wf-title")).includes("browser_demo"), "workflow title");
  check((await page.$$("#workflows tbody tr")).length === 1, "workflows list");

  // Jobs table: every job with the API's status.
  const api_jobs = (await api("/workflows/1/jobs")).jobs;
  const rows = await page.$$eval("#jobs tbody tr", (trs) => trs.map((t) => [t.dataset.job, t.dataset.status]));
  check(rows.length === 10, "10 job rows", rows.length);
  check(JSON.stringify(rows) === JSON.stringify(api_jobs.map((j) => [j.name, j.status])), "job rows", rows);
  check(await page.getAttribute("#jobs-total", "data-total") === "10", "jobs total");

  // Filters: status, then name regex, then a bad regex.
  await page.selectOption("#status-filter", "running");
  await waitFor("the running filter", async () => (await page.$$("#jobs tbody tr")).length === 2, 15);
  const running = await page.$$eval("#jobs tbody tr", (trs) => trs.map((t) => t.dataset.job).sort());
  check(JSON.stringify(running) === '["slow_1","slow_2"]', "running jobs", running);
  await page.selectOption("#status-filter", "");
  await page.fill("#name-filter", "^quick_[1-3]$");
  await waitFor("the name filter", async () => (await page.$$("#jobs tbody tr")).length === 3, 15);
  await page.fill("#name-filter", "(");
  await waitFor("the regex error", async () => (await page.textContent("#filter-error")).includes("invalid name regex"), 15);
  await page.fill("#name-filter", "");
  await waitFor("all rows back", async () => (await page.$$("#jobs tbody tr")).length === 10, 15);

  // Timeline: one bar per ended attempt and per running job, with the states of the API.
  const attempts = await api("/workflows/1/attempts");
  const expected = [];
  for (const j of attempts.jobs) {
    for (const a of j.attempts) expected.push(a.status);
    if (j.current && j.current.status === "running") expected.push("running");
  }
  await waitFor("the timeline", async () => (await page.$$("#timeline svg rect.bar")).length === expected.length, 15);
  const bars = await page.$$eval("#timeline svg rect.bar", (rs) => rs.map((r) => r.dataset.state));
  check(JSON.stringify(bars.sort()) === JSON.stringify(expected.sort()), "timeline bars", { bars, expected });
  check(bars.filter((s) => s === "running").length === 2, "two running bars", bars);
  check(bars.filter((s) => s === "failed").length === 1, "one failed bar", bars);

  // A job's log: broken's stderr.
  await page.click("#jobs tbody tr[data-job=broken]");
  await page.waitForSelector("#job-panel:not([hidden])");
  await page.check("input[name=stream][value=err]");
  await waitFor("broken's stderr", async () => (await page.textContent("#log")).includes("something broke"), 15);
  check((await page.textContent("#job-title")).includes("broken (failed"), "job title");
  check((await page.$$("#attempts tbody tr")).length === 1, "one attempt row");

  check((await page.$$("#usage-charts svg")).length === 0, "no charts for a job without samples");

  // Memory and CPU curves of a job with samples (issue #18). The server here records none, so
  // quick_1's answer gains the contract's "samples" and "request" and its samples endpoint
  // answers a fixture (tests/server/fixtures/usage, shared with report_tests).
  const fixture = fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname),
                                            "../server/fixtures/usage/samples_grower_1.json"), "utf8");
  let samplesCalls = 0;
  await page.route(/\/api\/v1\/workflows\/1\/jobs\/quick_1$/, async (route) => {
    const job = await (await route.fetch()).json();
    job.attempts[0].samples = 5;
    job.attempts[0].request = { memory_bytes: 400 * 2 ** 20, runtime_seconds: 60, num_cpus: 1 };
    await route.fulfill({ json: job });
  });
  await page.route(/\/api\/v1\/workflows\/1\/jobs\/quick_1\/attempts\/1\/samples$/, async (route) => {
    samplesCalls++;
    await route.fulfill({ body: fixture, contentType: "application/json" });
  });
  await page.click("#jobs tbody tr[data-job=quick_1]");
  await waitFor("quick_1's charts", async () => (await page.$$("#usage-charts svg.usage-chart")).length === 2, 15);
  const chart = (kind, sel, attr) => page.getAttribute(`#usage-charts svg[data-kind=${kind}] ${sel}`, attr);
  check(await chart("memory", "polyline.series", "data-points") === "5", "memory curve of 5 samples");
  // 0..4 s over x 72..540; 20, 50, 80, 100, 100 MiB against a 600 MiB axis (400 MiB x 1.1).
  check(await chart("memory", "polyline.series", "points") ===
        "72.0,180.7 189.0,172.8 306.0,164.9 423.0,159.7 540.0,159.7", "memory curve points",
        await chart("memory", "polyline.series", "points"));
  check(await page.getAttribute("#usage-charts svg[data-kind=memory]", "data-top") === "600", "memory axis top");
  check(await chart("memory", "line.request", "y1") === "80.7", "memory request line at 400 MiB",
        await chart("memory", "line.request", "y1"));
  check(await chart("cpu", "line.request", "y1") === "80.7", "CPU request line at 100 % of 150 %",
        await chart("cpu", "line.request", "y1"));
  check(await chart("cpu", "polyline.series", "points") ===
        "72.0,133.3 189.0,80.7 306.0,80.7 423.0,80.7 540.0,91.2", "CPU curve points",
        await chart("cpu", "polyline.series", "points"));
  check((await page.textContent("#attempts tbody")).includes("400.0 MiB, 1 min 0 s, 1 CPU"), "requested column",
        await page.textContent("#attempts tbody"));
  // Refreshes (every 3 s) reuse the samples of an attempt that ended.
  await new Promise((r) => setTimeout(r, 7000));
  check(samplesCalls === 1, "samples fetched once", samplesCalls);
  await page.unroute(/\/api\/v1\/workflows\/1\/jobs\/quick_1$/);

  await page.screenshot({ path: path.join(outDir, "dashboard.png"), fullPage: true });
  check(consoleErrors.length === 0, "no console errors", consoleErrors);
  check(foreign.length === 0, "no request to another host", foreign);

  // Without a token (a fresh context, prompt dismissed): no data, a clear message.
  const stranger = await (await browser.newContext()).newPage();
  stranger.on("dialog", (d) => d.dismiss());
  await stranger.goto(url + "/");
  await waitFor("the refusal", async () => !(await stranger.isHidden("#message")), 15);
  check((await stranger.textContent("#message")).includes("refused the token"), "refusal message");
  check((await stranger.$$("#workflows tbody tr")).length === 0, "no workflows without a token");
} finally {
  await browser.close();
}
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
