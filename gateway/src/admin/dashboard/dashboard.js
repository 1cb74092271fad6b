// The operator dashboard: asks for the admin key (kept in this tab's sessionStorage only),
// then reads /api/v1/dashboard every 5 seconds. A key may also be handed in the URL fragment
// (#key=...), which never reaches the server; it is removed from the address bar at once.
"use strict";

const KEY = "secure-mcp-gateway-admin-key";
const $ = (id) => document.getElementById(id);

function text(el, value) { el.textContent = value == null ? "-" : String(value); }

function rows(table, items, cells) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const item of items) {
    const tr = document.createElement("tr");
    for (const [value, cls] of cells(item)) {
      const td = document.createElement("td");
      td.textContent = value == null ? "" : String(value);
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function duration(s) {
  if (s == null) return "-";
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

function render(d) {
  const status = $("status");
  text(status, d.status);
  status.className = "badge " + (d.status === "ok" ? "ok" : "degraded");
  text($("version"), d.version ? "v" + d.version : "");
  text($("sessions"), d.sessions);
  text($("uptime"), duration(d.uptime_seconds));
  const c = d.cache || {};
  const lookups = (c.hits || 0) + (c.misses || 0);
  text($("cache-hit-rate"), lookups ? (100 * c.hit_ratio).toFixed(1) + " %" : "no lookups");
  text($("cache-detail"), `${c.hits || 0} hits, ${c.misses || 0} misses` + (c.reachable === false ? " (unreachable)" : ""));
  const e = c.entries || {};
  text($("cache-size"), c.entries ? `${e.tools + e.gateway_config + e.key_to_id} entries` : "-");
  text($("cache-backend"), `${c.backend || ""}${c.used_memory_human ? ", " + c.used_memory_human : ""}`);
  const g = d.guardrails || {};
  const dirs = g.checks || {};
  let checks = 0, blocked = 0;
  for (const k of Object.keys(dirs)) { checks += dirs[k].checks || 0; blocked += dirs[k].blocked || 0; }
  text($("guard-checks"), checks);
  text($("guard-blocked"), `${blocked} blocked, ${g.redactions || 0} redactions`);
  rows($("servers"), d.upstreams || [], (u) => [[u.name], [u.state]]);
  const tools = [];
  for (const s of d.tools || []) for (const t of s.tools) tools.push({ server: s.server, ...t });
  rows($("tools"), tools, (t) => [[t.server], [t.name], [t.status, t.status], [t.reason || ""]]);
  rows($("verdicts"), d.recent_verdicts || [], (v) => [
    [v.at], [v.server], [v.tool], [v.direction], [v.action, v.action], [(v.detectors || []).join(", ")],
  ]);
  text($("updated"), new Date().toLocaleTimeString());
}

async function refresh() {
  const key = sessionStorage.getItem(KEY);
  if (!key) { showLogin(null); return; }
  let resp;
  try {
    resp = await fetch("/api/v1/dashboard", { headers: { apikey: key }, cache: "no-store" });
  } catch (err) {
    text($("status"), "unreachable");
    $("status").className = "badge error";
    return;
  }
  if (resp.status === 401 || resp.status === 403) {
    sessionStorage.removeItem(KEY);
    const body = await resp.json().catch(() => ({}));
    showLogin(body.detail || "admin key refused");
    return;
  }
  const body = await resp.json();
  $("login").hidden = true;
  $("main").hidden = false;
  render(body.data || {});
}

function showLogin(message) {
  $("main").hidden = true;
  $("login").hidden = false;
  text($("status"), "not connected");
  $("status").className = "badge";
  if (message != null) $("login-error").textContent = message;
}

function start() {
  const m = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("key").value);
    $("key").value = "";
    refresh();
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(""); });
  refresh();
  setInterval(refresh, 5000);
}

start();
