/* The weekly page's chart: the 12 latest ISO weeks' positive share, its Wilson 95% interval
   as a band (stacked lo and hi - lo) and as a whisker per week (a week between two empty ones
   has no band to draw), the pooled trailing weeks' share as a dashed segment over those weeks,
   and the week asked for as a larger orange point. */
"use strict";

(function () {
  var c = meiyu.data("weekly-data");
  var node = document.getElementById("weekly-chart");
  if (!c || !node || typeof echarts === "undefined") return;
  var width = c.hi.map(function (h, j) {
    return h === null || c.lo[j] === null ? null : h - c.lo[j];
  });
  var points = c.share.map(function (v, j) {
    return c.weeks[j] === c.week
      ? { value: v, symbolSize: 12, itemStyle: { color: "#e76f51" } }
      : v;
  });
  var share = {
    name: "正面占比",
    type: "line",
    data: points,
    connectNulls: false,
    symbolSize: 6,
    itemStyle: { color: "#1d3557" },
    clip: false,
    z: 4
  };
  var whiskers = {
    name: "95% 区间（每周）",
    type: "custom",
    silent: true,
    z: 3,
    data: c.lo.map(function (lo, j) { return [j, lo, c.hi[j]]; }),
    renderItem: function (params, api) {
      if (c.lo[params.dataIndex] === null || c.hi[params.dataIndex] === null) return null;
      var lo = api.coord([api.value(0), api.value(1)]);
      var hi = api.coord([api.value(0), api.value(2)]);
      var w = 4;
      var style = { stroke: "#457b9d", lineWidth: 1 };
      return {
        type: "group",
        children: [
          { type: "line", shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style: style },
          { type: "line", shape: { x1: lo[0] - w, y1: lo[1], x2: lo[0] + w, y2: lo[1] }, style: style },
          { type: "line", shape: { x1: hi[0] - w, y1: hi[1], x2: hi[0] + w, y2: hi[1] }, style: style }
        ]
      };
    }
  };
  if (c.trailing !== null && c.trailing_from !== null) {
    share.markLine = {
      silent: true,
      symbol: "none",
      lineStyle: { type: "dashed", color: "#e76f51", width: 2 },
      label: { formatter: c.trailing_label, color: "#e76f51", position: "insideStartTop" },
      data: [[{ coord: [c.trailing_from, c.trailing] }, { coord: [c.trailing_to, c.trailing] }]]
    };
  }
  var chart = echarts.init(node);
  chart.setOption({
    textStyle: { fontFamily: meiyu.font },
    grid: { left: 50, right: 24, top: 24, bottom: 56 },
    tooltip: {
      trigger: "axis",
      formatter: function (params) {
        var j = params[0].dataIndex;
        var lines = [meiyu.esc(c.weeks[j])];
        lines.push("正面占比：" + meiyu.esc(meiyu.fmt(c.share[j], true, false)));
        if (c.lo[j] !== null && c.hi[j] !== null) {
          lines.push("95% 区间：" + meiyu.esc(meiyu.fmt(c.lo[j], true, true)) + "–" +
            meiyu.esc(meiyu.fmt(c.hi[j], true, true)));
        }
        lines.push("已评分：" + meiyu.esc(c.scored[j]));
        if (c.trailing !== null) {
          lines.push(meiyu.esc(c.trailing_label) + "：" + meiyu.esc(meiyu.fmt(c.trailing, true, false)));
        }
        return lines.join("<br>");
      }
    },
    xAxis: { type: "category", data: c.weeks, boundaryGap: false, axisLabel: { rotate: 45 } },
    yAxis: {
      type: "value",
      min: 0,
      max: 1,
      axisLabel: { formatter: function (v) { return Math.round(v * 100) + "%"; } }
    },
    series: [
      { name: "lo", type: "line", data: c.lo, stack: "band", symbol: "none",
        lineStyle: { opacity: 0 }, silent: true },
      { name: "95% 区间", type: "line", data: width, stack: "band", symbol: "none",
        lineStyle: { opacity: 0 }, areaStyle: { color: "#a8c5e0", opacity: 0.5 }, silent: true },
      whiskers,
      share
    ]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
