// End-to-end: `leadsite serve` and a real browser (Debian's chromium, driven by playwright-core).
// Opens a lead page, edits that lead's name in leads/, and waits for the open page to show the
// new name without a manual reload; then a broken edit shows the error overlay, and the fix
// clears it. Prints the time from save to reloaded page.
//
// usage: node tests/e2e/live-reload.mjs LEADSITE_BINARY [PROJECT_DIR]
//   Without PROJECT_DIR, a new project is made with `leadsite init --example` in a temp folder.
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const exe = path.resolve(process.argv[2]);
let dir = process.argv[3];
let scratch = null;
if (!dir) {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "leadsite-e2e-"));
  dir = path.join(scratch, "project");
  execFileSync(exe, ["init", "--example", dir], { stdio: "inherit" });
}
const leadsDir = path.join(dir, "leads");
const leadFile = fs.readdirSync(leadsDir).filter((f) => f.endsWith(".yaml")).sort()[0];
const leadPath = path.join(leadsDir, leadFile);
const key = /dedup_key:\s*(\S+)/.exec(fs.readFileSync(leadPath, "utf8"))[1];

const server = spawn(exe, ["serve", "--port", "0", "--offline"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
let log = "";
const url = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("serve did not start:\n" + log)), 120000);
  server.stderr.on("data", (d) => {
    log += d;
    const m = /http:\/\/[0-9.:]+\//.exec(log);
    if (m) { clearTimeout(timer); resolve(m[0]); }
  });
  server.on("exit", (code) => reject(new Error(`serve exited (${code}):\n${log}`)));
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"],
});
let failed = false;
try {
  const page = await browser.newPage();
  await page.goto(url + key + "/");
  const before = await page.textContent("h1");
  // Give the page's event stream a moment to connect before the edit.
  await new Promise((r) => setTimeout(r, 500));

  const newName = "Renamed " + Date.now();
  const text = fs.readFileSync(leadPath, "utf8");
  const saved = Date.now();
  fs.writeFileSync(leadPath, text.replace(/^name:.*$/m, `name: ${newName}`));
  await page.waitForFunction((n) => document.querySelector("h1")?.textContent.includes(n), newName, { timeout: 60000 });
  const took = Date.now() - saved;
  console.log(`live reload: "${before.trim()}" became "${newName}" in the open page ${took} ms after the save`);

  fs.writeFileSync(leadPath, text.replace(/^name:.*$/m, "name: [unclosed"));
  await page.waitForSelector("pre[role=alert]", { timeout: 60000 });
  const overlay = await page.textContent("pre[role=alert]");
  if (!overlay.includes(leadFile)) throw new Error("the overlay does not name the file: " + overlay);
  console.log("broken edit: the page shows the error overlay naming " + leadFile);

  fs.writeFileSync(leadPath, text);
  await page.waitForFunction((n) => document.querySelector("h1")?.textContent.includes(n) && !document.querySelector("pre[role=alert]"), before.trim(), { timeout: 60000 });
  console.log("fixed edit: the overlay is gone and the page is back");
} catch (e) {
  failed = true;
  console.error("live reload e2e FAILED: " + e.message + "\nserve said:\n" + log);
} finally {
  await browser.close();
  server.kill("SIGINT");
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
