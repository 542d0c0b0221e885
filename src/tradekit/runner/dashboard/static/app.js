// tradekit dashboard: reads the control API's JSON routes and draws them; no build step.
//
// The token (when the API has one) is asked for once and kept in this tab's sessionStorage,
// sent as "Authorization: Bearer ...", never put in a URL. Everything refreshes by polling:
// status, positions and today every POLL_MS; candles, fills, orders and the daily table when
// the bot has moved (a new bar, a fill, a position change) or every SLOW_EVERY polls.
"use strict";

(() => {
  const POLL_MS = 2000;
  const SLOW_EVERY = 5;
  const TOKEN_KEY = "tradekit.api-token";
  const KST_OFFSET_S = 9 * 3600; // the chart's clock is shifted so its "UTC" is Korea's time
  const LW = window.LightweightCharts;
  const authMode = document.querySelector('meta[name="tradekit-auth"]').content;
  const $ = (id) => document.getElementById(id);

  // -- formatting ------------------------------------------------------------------------

  const krwFormat = new Intl.NumberFormat("ko-KR", { style: "currency", currency: "KRW", maximumFractionDigits: 0 });
  const krwSigned = new Intl.NumberFormat("ko-KR", { style: "currency", currency: "KRW", maximumFractionDigits: 0, signDisplay: "exceptZero" });
  const intFormat = new Intl.NumberFormat("ko-KR", { maximumFractionDigits: 0 });
  const kstParts = new Intl.DateTimeFormat("en-CA", {
    timeZone: "Asia/Seoul", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });

  const krw = (v) => (v == null || !Number.isFinite(v) ? "–" : krwFormat.format(v));
  const krwPnl = (v) => (v == null || !Number.isFinite(v) ? "–" : krwSigned.format(Math.round(v)));
  const count = (v) => (v == null ? "–" : intFormat.format(v));

  function price(v) {
    if (v == null || !Number.isFinite(v)) return "–";
    // KRW ticks: whole won from 1,000 up, fractions of a won below.
    const digits = Math.abs(v) >= 1000 ? 0 : Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 1 ? 2 : 4;
    return new Intl.NumberFormat("ko-KR", { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
  }

  function qty(v) {
    if (v == null || !Number.isFinite(v)) return "–";
    return new Intl.NumberFormat("en-US", { maximumFractionDigits: 8 }).format(v);
  }

  function pct(v, signed = true) {
    if (v == null || !Number.isFinite(v)) return "–";
    const s = (v * 100).toFixed(2);
    return (signed && v > 0 ? "+" : "") + s + "%";
  }

  function kst(ms, withSeconds = false) {
    if (ms == null) return "–";
    const p = Object.fromEntries(kstParts.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${withSeconds ? ":" + p.second : ""}`;
  }

  // In the busy tables: month-day and time; the full time is in the cell's title.
  const shortTime = (ms) => kst(ms, true).slice(5);
  const timeCell = (ms) => el("td", { class: "time", title: `${kst(ms, true)} KST` }, shortTime(ms));

  const tone = (v) => (v > 0 ? "up" : v < 0 ? "down" : "");
  const REASONS = {
    entry: "Entry", stop_loss: "Stop loss", take_profit: "Take-profit", trailing_stop: "Trailing stop",
    manual: "Manual close", signal: "Exit signal", end_of_data: "End of data",
  };
  const reasonText = (r) => REASONS[r] || (r ? r.replace(/_/g, " ") : "");
  const MARKER_TEXT = {
    entry: "Buy", stop_loss: "Stop", take_profit: "TP", trailing_stop: "Trail", manual: "Close", signal: "Exit",
  };

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  const td = (text, cls, sub) => el("td", { class: cls }, text, sub ? el("span", { class: "sub", text: sub }) : null);

  function fillRows(tbody, rows, columns, empty) {
    tbody.replaceChildren(
      ...(rows.length ? rows : [null]).map((row) =>
        row === null
          ? el("tr", {}, el("td", { class: "empty", colspan: String(columns), text: empty }))
          : row,
      ),
    );
  }

  // -- the API ---------------------------------------------------------------------------

  class AuthError extends Error {}
  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function api(path, method = "GET") {
    const headers = { Accept: "application/json" };
    if (authMode === "token") headers.Authorization = `Bearer ${token()}`;
    const response = await fetch(path, { method, headers, cache: "no-store", credentials: "omit" });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.status === 401) throw new AuthError((body && body.detail) || "the token was refused");
    if (!response.ok) throw new ApiError(response.status, (body && body.detail) || response.statusText);
    return body;
  }

  // A route answering 503 (no store) shows its reason in the table instead of failing the page.
  async function optional(path) {
    try {
      return await api(path);
    } catch (err) {
      if (err instanceof ApiError && err.status === 503) return { unavailable: err.message };
      throw err;
    }
  }

  // -- sign-in ---------------------------------------------------------------------------

  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").hidden = !message;
    $("login-error").textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("login-button").disabled = true;
    try {
      await api("/status");
      start();
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(err instanceof AuthError ? `Not signed in: ${err.message}.` : `The bot did not answer: ${err.message}`);
    } finally {
      $("login-button").disabled = false;
    }
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    stop();
    showLogin("");
  }

  // -- state -----------------------------------------------------------------------------

  const state = {
    status: null, positions: [], today: null, fills: [], orders: [], days: [],
    signature: "", polls: 0, timer: null, running: false, busy: false, again: false, againFull: false,
    charts: new Map(),
  };

  function start() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = authMode !== "token";
    state.running = true;
    state.signature = "";
    refresh(true);
  }

  function stop() {
    state.running = false;
    clearTimeout(state.timer);
  }

  // One refresh at a time: a refresh asked for while one runs (after a button) runs right
  // after it, so there is never more than one polling chain.
  async function refresh(full = false) {
    if (state.busy) {
      state.again = true;
      state.againFull = state.againFull || full;
      return;
    }
    state.busy = true;
    clearTimeout(state.timer);
    try {
      await poll(full);
    } finally {
      state.busy = false;
    }
    if (!state.running) return;
    if (state.again) {
      const again = state.againFull;
      state.again = state.againFull = false;
      refresh(again);
    } else {
      state.timer = setTimeout(refresh, POLL_MS);
    }
  }

  async function poll(full) {
    try {
      const [status, positions, today] = await Promise.all([api("/status"), api("/positions"), api("/today")]);
      state.status = status;
      state.positions = positions.positions;
      state.today = today;
      const signature = JSON.stringify([status.last_bar_ms, status.fills, status.open_positions, status.bars_processed]);
      state.polls += 1;
      if (full || signature !== state.signature || state.polls % SLOW_EVERY === 0) {
        state.signature = signature;
        await refreshSlow(status);
      }
      render();
      $("updated").textContent = `updated ${kst(Date.now(), true).slice(11)} KST`;
      $("updated").classList.remove("stale");
    } catch (err) {
      if (err instanceof AuthError) {
        sessionStorage.removeItem(TOKEN_KEY);
        stop();
        showLogin(`Signed out: ${err.message}.`);
        return;
      }
      $("updated").textContent = `not reachable: ${err.message}`;
      $("updated").classList.add("stale");
    }
  }

  async function refreshSlow(status) {
    const [fills, orders, performance, ...candles] = await Promise.all([
      optional("/fills?limit=300"),
      optional("/orders?limit=100"),
      optional("/performance"),
      ...status.markets.map((m) => api(`/candles/${encodeURIComponent(m)}?limit=300`)),
    ]);
    state.fills = fills;
    state.orders = orders;
    state.days = performance;
    candles.forEach((c) => drawChart(c));
  }

  // -- rendering -------------------------------------------------------------------------

  function render() {
    const { status, today, positions } = state;
    renderHeader(status, today);
    renderKpis(status, today, positions);
    renderPositions(positions, status);
    renderFills(state.fills);
    renderOrders(state.orders, status.mode);
    renderDays(state.days);
    for (const m of status.markets) decorateChart(m);
  }

  function renderHeader(status, today) {
    $("mode").textContent = status.mode;
    $("mode").className = `badge ${status.mode}`;
    const halted = status.halted;
    const word = halted ? "HALTED" : status.paused ? "PAUSED" : "RUNNING";
    $("state").textContent = word;
    $("state").className = `pill ${word.toLowerCase()}`;
    $("meta").textContent = `${status.strategy} · ${status.markets.join(", ")} · ${status.timeframe}`;
    $("pause").hidden = status.paused;
    $("resume").hidden = !status.paused;
    $("footer-version").textContent = `tradekit ${status.version} · started ${kst(status.started_ms)} KST`;
    document.title = `${word} · ${krw(status.equity)} · tradekit`;

    const blocks = today.entry_blocks;
    const banner = $("banner");
    banner.hidden = blocks.length === 0;
    if (blocks.length) {
      const head = today.entries_allowed
        ? "Some markets take no new entries:"
        : "No new entries are taken. Open positions keep their stops and take-profits.";
      banner.className = `banner ${halted ? "bad" : ""}`;
      banner.replaceChildren(el("strong", { text: head }), el("ul", {}, ...blocks.map((b) => el("li", { text: b }))));
    }
  }

  function renderKpis(status, today, positions) {
    $("equity").textContent = krw(status.equity);
    const invested = status.equity - status.cash;
    $("equity-sub").textContent = `cash ${krw(status.cash)} · in positions ${krw(invested)}`;

    const ret = today.start_equity ? today.profit / today.start_equity : 0;
    const pnl = $("today-pnl");
    pnl.textContent = `${krwPnl(today.profit)} (${pct(ret)})`;
    pnl.className = `kpi-value ${tone(today.profit)}`;
    $("day-label").textContent = today.trading_day ? today.trading_day : "";
    const fill = $("limit-fill");
    if (today.loss_limit != null && today.loss_limit_reference) {
      const budget = today.loss_limit_reference * today.loss_limit;
      const loss = Math.max(0, today.loss_limit_reference - today.equity);
      const used = Math.min(1, loss / budget);
      fill.style.width = `${(used * 100).toFixed(1)}%`;
      fill.className = today.halted ? "over" : used > 0.5 ? "used" : "";
      $("today-sub").textContent =
        `loss limit −${(today.loss_limit * 100).toFixed(2)}% · halts below ${krw(today.loss_limit_equity)} · ` +
        `${pct(used, false)} used`;
    } else {
      fill.style.width = "0";
      $("today-sub").textContent = "no daily loss limit configured";
    }

    $("open-count").textContent = count(positions.length);
    const unrealised = positions.reduce((s, p) => s + p.unrealized_pnl, 0);
    const open = $("open-sub");
    open.textContent = positions.length ? `unrealised ${krwPnl(unrealised)}` : "flat";
    open.className = `kpi-sub ${tone(unrealised)}`;

    $("activity").textContent = status.fills === 1 ? "1 fill" : `${count(status.fills)} fills`;
    const lastBar = Math.max(0, ...Object.values(status.last_bar_ms));
    const trades = today.trades === 1 ? "1 trade" : `${count(today.trades)} trades`;
    const day = today.trades ? ` · today ${trades}, ${pct(today.win_rate, false)} won` : "";
    $("activity-sub").textContent =
      `${count(status.bars_processed)} bars · last ${lastBar ? kst(lastBar) + " KST" : "none yet"}${day}`;
  }

  function renderPositions(positions, status) {
    const rows = positions.map((p) => {
      const last = p.last_price;
      const ret = last != null ? last / p.entry_price - 1 : null;
      const stopDist = p.stop != null && last ? p.stop / last - 1 : null;
      const trailing = p.trailing_stop == null
        ? td("–", "num")
        : p.take_profit_reached && p.highest != null
          ? td(price(p.highest * (1 - p.trailing_stop)), "num", `${pct(p.trailing_stop, false)} below high ${price(p.highest)}`)
          : td("after take-profit", "num", `${pct(p.trailing_stop, false)} below the high`);
      const button = el("button", {
        type: "button", class: "danger small", "data-market": p.market,
        onclick: () => confirmClose(p, status.mode),
      }, "Close");
      return el("tr", { "data-market": p.market },
        td(p.market, "", p.status !== "open" ? p.status : null),
        td(qty(p.quantity), "num", p.remainder ? `+${qty(p.remainder)} below step` : null),
        td(price(p.entry_price), "num", `${kst(p.entry_time_ms)} KST`),
        td(price(last), "num"),
        td(krwPnl(p.unrealized_pnl), `num ${tone(p.unrealized_pnl)}`, ret != null ? pct(ret) : null),
        td(price(p.stop), "num", stopDist != null ? `${pct(stopDist)} from last` : null),
        td(p.take_profit_reached ? "reached ✓" : price(p.take_profit_price), `num ${p.take_profit_reached ? "up" : ""}`),
        trailing,
        el("td", { class: "num" }, button),
      );
    });
    fillRows($("positions").tBodies[0], rows, 9, "No open positions.");
  }

  function renderFills(fills) {
    const body = $("fills").tBodies[0];
    if (fills.unavailable) return fillRows(body, [], 8, fills.unavailable);
    const rows = fills.fills.slice().reverse().slice(0, 100).map((f) =>
      el("tr", {},
        timeCell(f.time_ms),
        td(f.market),
        td(f.side.toUpperCase(), `side-${f.side}`),
        td(price(f.price), "num"),
        td(qty(f.quantity), "num"),
        td(krw(f.price * f.quantity), "num"),
        td(krw(f.fee), "num"),
        el("td", {}, el("span", { class: `tag ${f.reason}`, text: reasonText(f.reason) })),
      ));
    fillRows(body, rows, 8, "No fills yet.");
  }

  function renderOrders(orders, mode) {
    const body = $("orders").tBodies[0];
    if (orders.unavailable) return fillRows(body, [], 7, orders.unavailable);
    const rows = orders.orders.slice().reverse().slice(0, 100).map((o) => {
      // A market buy is sized in KRW (its "price" is the amount to spend), anything else in coins.
      const size = o.volume != null ? qty(o.volume) : o.price != null ? krw(o.price) : "–";
      const filled = o.executed_volume ? `filled ${qty(o.executed_volume)}` : null;
      const kind = o.type === "limit" && o.price != null ? `limit @ ${price(o.price)}` : o.type;
      return el("tr", {},
        timeCell(o.created_ms),
        td(o.market),
        el("td", {}, el("span", { class: `side-${o.side}`, text: o.side.toUpperCase() }), ` ${kind}`),
        td(size, "num", filled),
        td(price(o.average_price), "num", o.fee ? `fee ${krw(o.fee)}` : null),
        td(o.status.replace(/_/g, " "), `status-${o.status}`),
        el("td", {}, el("span", { class: `tag ${o.reason}`, text: reasonText(o.reason) })),
      );
    });
    const none = mode === "paper" ? "None: on paper the bar fill model fills, no order is sent." : "No orders yet.";
    fillRows(body, rows, 7, none);
  }

  function renderDays(performance) {
    const body = $("days").tBodies[0];
    if (performance.unavailable) return fillRows(body, [], 9, performance.unavailable);
    const rows = performance.days.slice().reverse().map((d) => {
      const ret = d.start_equity ? d.profit / d.start_equity : null;
      return el("tr", {},
        td(d.trading_day),
        td(krw(d.start_equity), "num"),
        td(krw(d.end_equity), "num"),
        td(krwPnl(d.profit), `num ${tone(d.profit)}`),
        td(pct(ret), `num ${tone(d.profit)}`),
        td(d.max_drawdown ? pct(-d.max_drawdown) : "0.00%", "num"),
        td(count(d.trades), "num"),
        td(d.win_rate == null ? "–" : pct(d.win_rate, false), "num"),
        td(d.notes || ""),
      );
    });
    fillRows(body, rows, 9, "No finished trading day yet.");
  }

  // -- charts ----------------------------------------------------------------------------

  const chartTime = (ms) => Math.floor(ms / 1000) + KST_OFFSET_S;

  function chartTimeLabel(t) {
    const d = new Date(t * 1000); // already shifted to KST: read it as UTC
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())} KST`;
  }

  function makeChart(market) {
    const legend = el("span", { class: "chart-legend" });
    const priceLabel = el("span", { class: "chart-price" });
    const holder = el("div", { class: "chart", "data-market": market });
    const card = el("div", { class: "chart-card", "data-testid": `chart-${market}` },
      el("div", { class: "chart-head" },
        el("span", { class: "chart-title", text: market }),
        priceLabel,
        legend,
        el("span", { class: "chart-keys" },
          el("span", { class: "key entry", text: "entry" }),
          el("span", { class: "key stop", text: "stop" }),
          el("span", { class: "key tp", text: "take-profit" }),
        ),
      ),
      holder,
    );
    $("charts").append(card);
    const chart = LW.createChart(holder, {
      autoSize: true,
      layout: {
        background: { type: "solid", color: "#121821" }, textColor: "#8b97a8",
        // The logo injects a <style> element, which the page's CSP refuses; the footer
        // carries the attribution instead.
        fontFamily: getComputedStyle(document.body).fontFamily, attributionLogo: false,
      },
      grid: { vertLines: { color: "#1a222d" }, horzLines: { color: "#1a222d" } },
      rightPriceScale: { borderColor: "#222c3a" },
      timeScale: { borderColor: "#222c3a", timeVisible: true, secondsVisible: false, rightOffset: 4 },
      crosshair: { mode: LW.CrosshairMode.Normal },
      localization: { locale: "en-US", timeFormatter: chartTimeLabel, priceFormatter: price },
    });
    const levels = []; // the open position's entry, stop and take-profit
    const candles = chart.addSeries(LW.CandlestickSeries, {
      upColor: "#26a69a", downColor: "#ef5350", borderVisible: false,
      wickUpColor: "#26a69a", wickDownColor: "#ef5350",
      // Keep the position's levels in view: price lines alone do not widen the scale.
      autoscaleInfoProvider: (original) => {
        const info = original();
        if (!info || !info.priceRange || !levels.length) return info;
        const range = info.priceRange;
        return {
          ...info,
          priceRange: {
            minValue: Math.min(range.minValue, ...levels),
            maxValue: Math.max(range.maxValue, ...levels),
          },
        };
      },
    });
    candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.22 } });
    const volume = chart.addSeries(LW.HistogramSeries, {
      priceScaleId: "volume", priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false,
    });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    const markers = LW.createSeriesMarkers(candles, []);
    const entry = { chart, candles, volume, markers, lines: [], levels, bars: [], legend, priceLabel, card, fitted: false, timeframeMs: 0 };
    chart.subscribeCrosshairMove((param) => {
      const bar = param && param.time != null ? param.seriesData.get(candles) : null;
      showLegend(entry, bar || entry.bars[entry.bars.length - 1]);
    });
    state.charts.set(market, entry);
    return entry;
  }

  function showLegend(entry, bar) {
    if (!bar) {
      entry.legend.textContent = "";
      return;
    }
    const change = bar.open ? bar.close / bar.open - 1 : 0;
    entry.legend.textContent = `O ${price(bar.open)}  H ${price(bar.high)}  L ${price(bar.low)}  C ${price(bar.close)}  ${pct(change)}`;
  }

  function drawChart(data) {
    const entry = state.charts.get(data.market) || makeChart(data.market);
    entry.timeframeMs = data.timeframe_ms;
    entry.bars = data.candles.map((c) => ({ time: chartTime(c.time_ms), open: c.open, high: c.high, low: c.low, close: c.close }));
    // An empty slot for the bar that is forming: a live bot's fills since the last close
    // get their markers there at once, not when the bar closes.
    const forming = entry.bars.length ? [{ time: entry.bars[entry.bars.length - 1].time + data.timeframe_ms / 1000 }] : [];
    entry.candles.setData([...entry.bars, ...forming]);
    entry.volume.setData(data.candles.map((c) => ({
      time: chartTime(c.time_ms), value: c.volume,
      color: c.close >= c.open ? "rgba(38, 166, 154, 0.35)" : "rgba(239, 83, 80, 0.35)",
    })));
    const last = data.candles[data.candles.length - 1];
    entry.priceLabel.textContent = last ? price(last.close) : "";
    showLegend(entry, entry.bars[entry.bars.length - 1]);
    if (!entry.fitted && entry.bars.length) {
      entry.chart.timeScale().fitContent();
      entry.fitted = true;
    }
  }

  // The bot's fills as markers on their bars, and the open position's levels as price lines.
  function decorateChart(market) {
    const entry = state.charts.get(market);
    if (!entry || !entry.bars.length) return;
    const step = entry.timeframeMs || 1000;
    const first = entry.bars[0].time;
    const lastBar = entry.bars[entry.bars.length - 1].time + step / 1000; // the forming bar
    const fills = state.fills.fills || [];
    const markers = fills
      .filter((f) => f.market === market)
      .map((f) => {
        const time = chartTime(f.time_ms - (f.time_ms % step));
        const buy = f.side === "buy";
        // At the fill's own price: the arrow's tip touches it, from below for a buy.
        return {
          time,
          position: buy ? "atPriceTop" : "atPriceBottom",
          price: f.price,
          shape: buy ? "arrowUp" : "arrowDown",
          color: buy ? "#4c8dff" : f.reason === "take_profit" ? "#26a69a" : f.reason === "manual" ? "#f0b429" : "#ef5350",
          text: MARKER_TEXT[f.reason] || reasonText(f.reason),
        };
      })
      .filter((m) => m.time >= first && m.time <= lastBar)
      .sort((a, b) => a.time - b.time);
    entry.markers.setMarkers(markers);
    entry.card.dataset.markers = String(markers.length); // what is drawn, for tests and tools

    for (const line of entry.lines) entry.candles.removePriceLine(line);
    entry.lines = [];
    entry.levels.length = 0;
    const p = state.positions.find((x) => x.market === market);
    entry.card.dataset.lines = "0";
    if (!p) return;
    const add = (value, color, style, title) => {
      if (value == null) return;
      entry.levels.push(value);
      entry.lines.push(entry.candles.createPriceLine({ price: value, color, lineWidth: 1, lineStyle: style, axisLabelVisible: true, title }));
    };
    add(p.entry_price, "#8a96a8", LW.LineStyle.Dotted, "entry");
    add(p.stop, "#ef5350", LW.LineStyle.Dashed, p.take_profit_reached ? "trailing stop" : "stop");
    if (!p.take_profit_reached) add(p.take_profit_price, "#26a69a", LW.LineStyle.Dashed, "take-profit");
    entry.card.dataset.lines = String(entry.lines.length);
  }

  // -- actions ---------------------------------------------------------------------------

  function confirmAction(title, text, okLabel) {
    const dialog = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel;
    return new Promise((resolve) => {
      const done = (ok) => {
        $("confirm-ok").onclick = null;
        $("confirm-cancel").onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(ok);
      };
      $("confirm-ok").onclick = () => done(true);
      $("confirm-cancel").onclick = () => done(false);
      dialog.onclose = () => done(false); // Escape
      dialog.showModal();
      $("confirm-cancel").focus();
    });
  }

  function toast(text, bad = false) {
    const box = $("toast");
    box.textContent = text;
    box.className = `toast ${bad ? "bad" : ""}`;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (box.hidden = true), 5000);
  }

  async function act(path, done) {
    try {
      const body = await api(path, "POST");
      toast(done(body));
    } catch (err) {
      if (err instanceof AuthError) return signOut();
      toast(`Refused: ${err.message}`, true);
    }
    refresh(true);
  }

  async function confirmPause() {
    const ok = await confirmAction(
      "Pause new entries?",
      "The bot takes no new positions until you resume. Open positions keep their stops, take-profits and trailing stops.",
      "Pause",
    );
    if (ok) act("/pause", () => "Paused: no new entries.");
  }

  async function confirmResume() {
    const ok = await confirmAction(
      "Resume new entries?",
      "The bot takes new positions again when its strategy signals. A daily-loss halt still applies until the next trading day.",
      "Resume",
    );
    if (ok) act("/resume", () => "Resumed: new entries allowed.");
  }

  async function confirmClose(position, mode) {
    const when = mode === "live" ? "now, with a market order" : "at the next bar's open";
    const ok = await confirmAction(
      `Close ${position.market}?`,
      `Sells the whole position (${qty(position.quantity)} at about ${price(position.last_price)} KRW) ${when}.`,
      "Close position",
    );
    if (ok) act(`/positions/${encodeURIComponent(position.market)}/close`, (body) => body.detail);
  }

  // -- start -----------------------------------------------------------------------------

  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", signOut);
  $("pause").addEventListener("click", confirmPause);
  $("resume").addEventListener("click", confirmResume);

  if (authMode === "token" && !token()) showLogin("");
  else start();
})();
