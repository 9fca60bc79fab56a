/* The indicator page's bar chart: items per stored period with the 95% interval as an error
   bar (a custom series); a click on a bar opens that period's items. */
"use strict";

(function () {
  var c = meiyu.data("indicator-data");
  var node = document.getElementById("items-chart");
  if (!c || !node || typeof echarts === "undefined") return;
  var chart = echarts.init(node);
  var bars = c.lo.map(function (lo, j) { return [j, lo, c.hi[j]]; });
  // a long series gets a zoom slider under the axis: the grid leaves it its own band, so the
  // period labels are not drawn over it
  var zoom = c.periods.length > 40;
  chart.setOption({
    textStyle: { fontFamily: meiyu.font },
    grid: { left: 50, right: 20, top: 20, bottom: zoom ? 72 : 40 },
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: function (params) {
        var j = params[0].dataIndex;
        var lines = [meiyu.esc(c.periods[j])];
        lines.push("字面匹配条目：" + meiyu.esc(c.items[j]));
        if (c.lo[j] !== null && c.hi[j] !== null) {
          lines.push("95% 区间：" + meiyu.esc(meiyu.fmt(c.lo[j], false, true)) + "–" +
            meiyu.esc(meiyu.fmt(c.hi[j], false, true)));
        }
        lines.push("经相关性校验：" + meiyu.esc(c.relevant[j]));
        lines.push("点击查看条目");
        return lines.join("<br>");
      }
    },
    xAxis: { type: "category", data: c.periods },
    yAxis: { type: "value", min: 0, name: "条目数" },
    dataZoom: zoom ? [{ type: "slider", start: 60, end: 100, bottom: 6, height: 24 }] : [],
    series: [
      { name: "条目数", type: "bar", data: c.items, itemStyle: { color: "#457b9d" },
        cursor: "pointer" },
      {
        name: "95% 区间",
        type: "custom",
        silent: true,
        data: bars,
        // both ends on the y axis, so its extent reaches the top of the highest bar's interval
        encode: { x: 0, y: [1, 2] },
        z: 3,
        renderItem: function (params, api) {
          if (api.value(1) === null || isNaN(api.value(1))) return null;
          var lo = api.coord([api.value(0), api.value(1)]);
          var hi = api.coord([api.value(0), api.value(2)]);
          var w = api.size([1, 0])[0] * 0.15;
          var style = { stroke: "#1d3557", lineWidth: 1 };
          return {
            type: "group",
            children: [
              { type: "line", shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style: style },
              { type: "line", shape: { x1: lo[0] - w, y1: lo[1], x2: lo[0] + w, y2: lo[1] }, style: style },
              { type: "line", shape: { x1: hi[0] - w, y1: hi[1], x2: hi[0] + w, y2: hi[1] }, style: style }
            ]
          };
        }
      }
    ]
  });
  chart.on("click", function (params) {
    var link = c.links[params.dataIndex];
    if (link && link.charAt(0) === "/") window.location.href = link;
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
