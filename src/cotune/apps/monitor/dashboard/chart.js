// A small hand-written canvas chart: volume bars, negative-share line, alert markers.
"use strict";
window.drawChart = function (canvas, points, alerts, windowSeconds) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = { l: 48, r: 48, t: 14, b: 34 };
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  if (!points.length) {
    ctx.fillStyle = "#777"; ctx.fillText("no events yet", W / 2 - 30, H / 2); return 0;
  }
  const t0 = points[0].start, t1 = points[points.length - 1].start + windowSeconds;
  const x = (t) => pad.l + (W - pad.l - pad.r) * (t - t0) / Math.max(t1 - t0, 1);
  const maxV = Math.max(...points.map((p) => p.volume), 1);
  const yV = (v) => H - pad.b - (H - pad.t - pad.b) * v / maxV;
  const yS = (s) => H - pad.b - (H - pad.t - pad.b) * s;
  const bw = Math.max(1, x(t0 + windowSeconds) - x(t0) - 1);
  ctx.fillStyle = "#b8c7d9";
  for (const p of points) ctx.fillRect(x(p.start), yV(p.volume), bw, H - pad.b - yV(p.volume));
  let markers = 0;
  ctx.fillStyle = "rgba(243,156,18,.35)";
  for (const a of alerts) {
    if (a.window_end_ts < t0 || a.window_start_ts > t1) continue;
    ctx.fillRect(x(a.window_start_ts), pad.t, Math.max(2, x(a.window_end_ts) - x(a.window_start_ts)), H - pad.t - pad.b);
    ctx.beginPath(); ctx.fillStyle = "#f39c12";
    ctx.arc(x(a.window_start_ts) + bw / 2, yS(a.observed), 5, 0, 2 * Math.PI); ctx.fill();
    ctx.fillStyle = "rgba(243,156,18,.35)";
    markers++;
  }
  ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 2; ctx.beginPath();
  points.forEach((p, i) => {
    const px = x(p.start) + bw / 2, py = yS(p.negative_share);
    if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
  });
  ctx.stroke();
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1; ctx.beginPath();
  ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, H - pad.b); ctx.lineTo(W - pad.r, H - pad.b); ctx.lineTo(W - pad.r, pad.t); ctx.stroke();
  ctx.fillStyle = "#555";
  ctx.fillText(String(maxV), 4, pad.t + 8); ctx.fillText("0", pad.l - 12, H - pad.b);
  ctx.fillText("100%", W - pad.r + 4, pad.t + 8); ctx.fillText("0%", W - pad.r + 4, H - pad.b);
  const fmt = (t) => new Date(t * 1000).toISOString().slice(5, 16).replace("T", " ");
  ctx.fillText(fmt(t0), pad.l, H - 10); ctx.fillText(fmt(t1), W - pad.r - 70, H - 10);
  canvas.dataset.points = String(points.length);
  canvas.dataset.markers = String(markers);
  return markers;
};
