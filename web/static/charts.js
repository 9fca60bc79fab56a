/* Shared by the dashboard's charts (ECharts renders tooltips as HTML: every text goes
   through esc). Data comes from a <script type="application/json"> block: the CSP allows
   no inline script. */
"use strict";

window.meiyu = window.meiyu || {};

meiyu.esc = function (value) {
  return String(value === null || value === undefined ? "—" : value)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
};

meiyu.data = function (id) {
  var node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
};

/* A number as the tables show it: a share in percent, a count whole (bounds: 2 digits below 10). */
meiyu.fmt = function (value, share, bound) {
  if (value === null || value === undefined) return "—";
  if (share) return (value * 100).toFixed(1) + "%";
  if (bound && value < 10) return String(Number(value.toPrecision(2)));
  return String(Math.round(value));
};

meiyu.font = '"Meiyu CJK", sans-serif';
