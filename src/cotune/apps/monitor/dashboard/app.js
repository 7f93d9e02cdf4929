// Polls the monitor's API every two seconds and redraws: topics, chart, alerts.
"use strict";
(function () {
  const name = document.body.dataset.monitor;
  const api = "/v1/monitors/" + encodeURIComponent(name);
  const keyInput = document.getElementById("apikey");
  keyInput.value = sessionStorage.getItem("cotune-key") || "";
  keyInput.addEventListener("change", () => { sessionStorage.setItem("cotune-key", keyInput.value); refresh(); });
  let topic = null;

  async function get(path) {
    const headers = keyInput.value ? { "X-API-Key": keyInput.value } : {};
    const r = await fetch(api + path, { headers });
    if (!r.ok) {
      let msg = r.status + "";
      try { msg = (await r.json()).error.message; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return r.json();
  }

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    Object.assign(e, attrs || {});
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function renderTopics(topics) {
    const ul = document.getElementById("topics");
    ul.replaceChildren();
    if (topic === null && topics.length) topic = topics[0].topic;
    for (const t of topics) {
      const li = el("li", { className: t.topic === topic ? "active" : "" }, t.topic);
      li.dataset.topic = t.topic;
      li.appendChild(el("span", { className: "n" }, String(t.volume)));
      li.addEventListener("click", () => { topic = t.topic; refresh(); });
      ul.appendChild(li);
    }
  }

  function renderAlerts(alerts) {
    const ol = document.getElementById("alerts");
    ol.replaceChildren();
    for (const a of alerts) {
      const li = el("li", { className: "alert " + a.severity });
      li.appendChild(el("span", { className: "sev" }, a.severity + " "));
      li.appendChild(el("strong", {}, a.kind + " " + a.name));
      li.appendChild(el("span", {}, " · " + a.window_start + " → " + a.window_end + " · " +
        Math.round(a.observed * 100) + "% negative of " + a.volume + " (baseline " +
        Math.round(a.baseline * 100) + "%)"));
      const texts = el("ul", { className: "texts" });
      for (const x of a.examples || []) texts.appendChild(el("li", {}, x.text));
      li.appendChild(texts);
      ol.appendChild(li);
    }
  }

  async function refresh() {
    const status = document.getElementById("status");
    try {
      const [topics, alerts, st] = await Promise.all([get("/topics"), get("/alerts?limit=50"), get("/status")]);
      renderTopics(topics.topics);
      renderAlerts(alerts.alerts);
      if (topic !== null) {
        const s = await get("/series?topic=" + encodeURIComponent(topic));
        document.getElementById("chart-title").textContent = "Topic " + topic + ": volume and negative share";
        const mine = alerts.alerts.filter((a) => a.kind === "topic" && a.name === topic);
        window.drawChart(document.getElementById("chart"), s.points.slice(-288), mine, s.window_s);
      }
      status.textContent = st.events + " events · " + alerts.alerts.length + " alerts · updated " +
        new Date().toLocaleTimeString() + (st.source_error ? " · source stopped: " + st.source_error : "");
    } catch (e) {
      status.textContent = "error: " + e.message;
    }
  }
  refresh();
  setInterval(refresh, 2000);
})();
