// The hub's dashboard: reads the JSON API with the merchant's API key (kept for this tab only).
"use strict";

const KEY = "hub.apiKey";
const PALETTE = ["#2563eb", "#dc6803", "#067647", "#b42318", "#7a5af8", "#0e9384",
                 "#c11574", "#5d6875", "#93370d", "#1570ef", "#4e5ba6", "#a15c07"];
const charts = {};
const $ = (sel) => document.querySelector(sel);

function esc(text) {
  const div = document.createElement("div");
  div.textContent = text == null ? "" : String(text);
  return div.innerHTML;
}

async function api(path, { raw = false } = {}) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${sessionStorage.getItem(KEY)}` } });
  if (resp.status === 401) { signOut("Your API key was refused."); throw new Error("unauthorized"); }
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({}));
    throw new Error(body.error ? body.error.message : `HTTP ${resp.status}`);
  }
  return raw ? resp : resp.json();
}

function period() {
  const form = $("#period");
  return { from: form.from.value, to: form.to.value, model: form.model.value };
}

// The top ten by credited revenue in the merchant's currency (the series' currency too).
const TOP = { sort: "revenue", limit: "10" };

function query(extra = {}, withModel = true) {
  const p = period();
  const params = { from: p.from, to: p.to, ...(withModel ? { model: p.model } : {}), ...extra };
  return new URLSearchParams(params).toString();
}

function money(revenue, currency) {
  const amount = Number((revenue || {})[currency] || 0);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount);
  } catch (e) { return `${amount.toFixed(2)} ${currency}`; }
}

function mainCurrency(rows) {
  const sums = {};
  for (const row of rows) {
    for (const [cur, value] of Object.entries(row.revenue || {})) {
      sums[cur] = (sums[cur] || 0) + Number(value);
    }
  }
  return Object.keys(sums).sort((a, b) => sums[b] - sums[a])[0] || "USD";
}

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart(document.getElementById(id), config);
}

function lineConfig(days, series, label) {
  return {
    type: "line",
    data: {
      labels: days,
      datasets: series.map((s, i) => ({
        label: s.label, data: s.values, borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length], tension: 0.25, pointRadius: 2,
      })),
    },
    options: { responsive: true, animation: false, interaction: { mode: "index", intersect: false },
               scales: { y: { beginAtZero: true, title: { display: true, text: label } } } },
  };
}

function table(id, rows, currency, dimension) {
  const el = document.getElementById(id);
  if (!rows.length) { el.innerHTML = `<tr><td class="empty">No data in this period.</td></tr>`; return; }
  el.innerHTML = `<thead><tr><th>${esc(dimension)}</th><th class="n">clicks</th>
    <th class="n">unique clicks</th><th class="n">conversions</th><th class="n">revenue</th>
    <th class="n">conv. rate</th></tr></thead><tbody>` + rows.map((r) => `<tr>
    <td>${esc(r.label)}</td><td class="n">${r.clicks}</td><td class="n">${r.unique_clicks}</td>
    <td class="n">${Number(r.conversions).toFixed(2)}</td>
    <td class="n">${esc(money(r.revenue, currency))}</td>
    <td class="n">${(100 * Number(r.conversion_rate || 0)).toFixed(1)}%</td></tr>`).join("") + "</tbody>";
}

async function loadReports() {
  const p = period();
  document.querySelectorAll(".model").forEach((el) => { el.textContent = p.model; });
  const [series, byChannel, links, products, models] = await Promise.all([
    api(`/api/v1/reports/series?${query()}`),
    api(`/api/v1/reports/channel?${query()}`),
    api(`/api/v1/reports/link?${query(TOP)}`),
    api(`/api/v1/reports/product?${query(TOP)}`),
    api(`/api/v1/reports/models?${query({ dimension: "channel" }, false)}`),
  ]);
  const currency = series.currency || mainCurrency([byChannel.total]);
  const total = byChannel.total;
  $("#totals").innerHTML = [
    ["clicks", total.clicks], ["unique clicks", total.unique_clicks],
    ["conversions", Number(total.conversions).toFixed(2)],
    ["credited revenue", money(total.revenue, currency)],
    ["conversion rate", `${(100 * Number(total.conversion_rate || 0)).toFixed(1)}%`],
  ].map(([label, value]) => `<div><b>${esc(value)}</b><span>${esc(label)}</span></div>`).join("");

  draw("clicks-chart", lineConfig(series.days,
    series.channels.map((c) => ({ label: c.label, values: c.clicks })), "clicks"));
  draw("revenue-chart", lineConfig(series.days,
    series.channels.map((c) => ({ label: c.label, values: c.revenue.map(Number) })), currency));
  draw("models-chart", {
    type: "bar",
    data: {
      labels: models.rows.map((r) => r.label),
      datasets: models.models.map((m, i) => ({
        label: m, backgroundColor: PALETTE[i % PALETTE.length],
        data: models.rows.map((r) => Number(((r.models[m] || {}).revenue || {})[currency] || 0)),
      })),
    },
    options: { responsive: true, animation: false,
               scales: { y: { beginAtZero: true, title: { display: true, text: currency } } } },
  });
  table("channel-table", byChannel.rows, currency, "channel");
  table("link-table", links.rows, currency, "link");
  table("product-table", products.rows, currency, "product");
}

async function loadCalendar() {
  const p = period();
  const params = new URLSearchParams({ limit: "200", from: `${p.from}T00:00:00Z`,
                                       to: `${p.to}T23:59:59Z` });
  const page = await api(`/api/v1/shares?${params}`);
  const byDay = {};
  for (const share of page.data) {
    (byDay[share.scheduled_at.slice(0, 10)] ||= []).push(share);
  }
  const days = Object.keys(byDay).sort();
  $("#calendar").innerHTML = days.length ? days.map((day) => `<div class="day"><h3>${esc(day)}</h3>` +
    byDay[day].map((s) => `<button class="share" data-share="${s.id}">share #${s.id}
      ${esc(s.scheduled_at.slice(11, 16))} UTC<br>` + s.targets.map((t) =>
      `<span class="state ${esc(t.state)}" title="${esc(t.reason || "")}">${esc(t.channel_kind)}:
        ${esc(t.state)}</span>`).join("") + "</button>").join("") + "</div>").join("")
    : `<p class="empty">No shares in this period.</p>`;
}

async function openShare(id) {
  const share = await api(`/api/v1/shares/${encodeURIComponent(id)}`);
  $("#share-detail").innerHTML = `<h3>Share #${share.id}: product ${share.product_id}</h3>
    <p>Scheduled ${esc(share.scheduled_at)} (${esc(share.at)}), state ${esc(share.state)}</p>
    <table><thead><tr><th>channel</th><th>state</th><th>reason</th><th>link</th><th>post</th></tr>
    </thead><tbody>` + share.targets.map((t) => `<tr><td>${esc(t.channel_name)} (${esc(t.channel_kind)})</td>
    <td><span class="state ${esc(t.state)}">${esc(t.state)}</span></td><td>${esc(t.reason || "")}</td>
    <td>${t.link ? `<a href="${esc(t.link)}">${esc(t.link)}</a>` : ""}</td>
    <td>${t.remote_url ? `<a href="${esc(t.remote_url)}" rel="noopener">open</a>` : ""}</td></tr>` +
    (t.events || []).map((e) => `<tr class="event"><td></td><td colspan="4">${esc(e.at)}:
      ${esc(e.from_state || "-")} → ${esc(e.to_state)} ${esc(e.reason || "")}</td></tr>`).join("")
    ).join("") + "</tbody></table>";
  $("#share-dialog").showModal();
}

async function downloadCsv(dimension) {
  const resp = await api(`/api/v1/reports/${dimension}.csv?${query()}`, { raw: true });
  const url = URL.createObjectURL(await resp.blob());
  const a = Object.assign(document.createElement("a"),
    { href: url, download: `${dimension}-${period().model}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

async function refresh() {
  try {
    await Promise.all([loadReports(), loadCalendar()]);
  } catch (err) {
    if (err.message !== "unauthorized") $("#totals").textContent = `Could not load: ${err.message}`;
  }
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY);
  $("#board").hidden = true;
  $("#period").hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-in-error").textContent = message;
}

function showBoard() {
  $("#sign-in").hidden = true;
  $("#board").hidden = false;
  $("#period").hidden = false;
  refresh();
}

function defaults() {
  const form = $("#period");
  const today = new Date();
  const from = new Date(today.getTime() - 29 * 86400000);
  form.to.value = today.toISOString().slice(0, 10);
  form.from.value = from.toISOString().slice(0, 10);
}

document.addEventListener("DOMContentLoaded", () => {
  defaults();
  $("#sign-in-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, ev.target.key.value.trim());
    try {
      await api(`/api/v1/reports/channel?${query()}`);
      showBoard();
    } catch (err) {
      if (err.message !== "unauthorized") signOut(err.message);
    }
  });
  $("#period").addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
  $("#sign-out").addEventListener("click", () => signOut());
  $("#calendar").addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-share]");
    if (button) openShare(button.dataset.share);
  });
  document.querySelectorAll("[data-csv]").forEach((b) =>
    b.addEventListener("click", () => downloadCsv(b.dataset.csv)));
  if (sessionStorage.getItem(KEY)) showBoard();
});
