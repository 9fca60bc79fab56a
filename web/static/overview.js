/* The overview's trend charts: the 24 latest stored months of each indicator, its 95%
   interval as a band (stacked lo and hi - lo) and the plan's baseline as a dashed line. */
"use strict";

(function () {
  var charts = meiyu.data("overview-data") || [];
  charts.forEach(function (c, i) {
    var node = document.getElementById("trend-" + i);
    if (!node || typeof echarts === "undefined") return;
    var share = c.kind === "positive_share";
    var width = c.hi.map(function (h, j) {
      return h === null || c.lo[j] === null ? null : h - c.lo[j];
    });
    var value = {
      name: "数值",
      type: "line",
      data: c.values,
      connectNulls: false,
      symbolSize: 5,
      z: 3
    };
    if (c.baseline !== null) {
      value.markLine = {
        silent: true,
        symbol: "none",
        lineStyle: { type: "dashed", color: "#e76f51" },
        label: { formatter: "基线", color: "#e76f51" },
        data: [{ yAxis: c.baseline }]
      };
    }
    var chart = echarts.init(node);
    chart.setOption({
      textStyle: { fontFamily: meiyu.font },
      grid: { left: 50, right: 40, top: 20, bottom: 40 },
      tooltip: {
        trigger: "axis",
        formatter: function (params) {
          var j = params[0].dataIndex;
          var lines = [meiyu.esc(c.months[j])];
          lines.push("数值：" + meiyu.esc(meiyu.fmt(c.values[j], share, false)));
          if (c.lo[j] !== null && c.hi[j] !== null) {
            lines.push("95% 区间：" + meiyu.esc(meiyu.fmt(c.lo[j], share, true)) + "–" +
              meiyu.esc(meiyu.fmt(c.hi[j], share, true)));
          }
          if (c.baseline !== null) lines.push(meiyu.esc(c.baseline_label));
          return lines.join("<br>");
        }
      },
      xAxis: { type: "category", data: c.months, boundaryGap: false },
      yAxis: {
        type: "value",
        min: 0,
        axisLabel: { formatter: function (v) { return share ? Math.round(v * 100) + "%" : v; } }
      },
      series: [
        { name: "lo", type: "line", data: c.lo, stack: "band", symbol: "none",
          lineStyle: { opacity: 0 }, silent: true },
        { name: "95% 区间", type: "line", data: width, stack: "band", symbol: "none",
          lineStyle: { opacity: 0 }, areaStyle: { color: "#a8c5e0", opacity: 0.5 }, silent: true },
        value
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
