// Draws the dashboard charts from the JSON the page carries (no inline script: CSP).
// Clicking a bar opens the list of cases behind it.
(function () {
  "use strict";
  const source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const SENTIMENT = ["#e53935", "#b0bec5", "#43a047"];

  function open(links, index) {
    const url = links && links[index];
    if (url) window.location.href = url;
  }

  function draw(name, config) {
    const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
    if (!canvas) return null;
    config.options = Object.assign({ responsive: true, animation: false, maintainAspectRatio: false }, config.options || {});
    const chart = new Chart(canvas, config);
    canvas.dataset.ready = "true";
    return chart;
  }

  draw("volume", {
    type: "bar",
    data: {
      labels: data.days,
      datasets: data.volume.map((s) => ({ label: s.label, data: s.values, backgroundColor: s.colour, links: s.links })),
    },
    options: {
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
      onClick: (event, elements, chart) => {
        if (!elements.length) return;
        const { datasetIndex, index } = elements[0];
        open(chart.data.datasets[datasetIndex].links, index);
      },
    },
  });

  draw("sentiment", {
    type: "bar",
    data: {
      labels: data.sentiment.map((s) => s.label),
      datasets: ["negative", "neutral", "positive"].map((name, k) => ({
        label: name, backgroundColor: SENTIMENT[k],
        data: data.sentiment.map((s) => s.values[k]),
        links: data.sentiment.map((s) => s.links[k]),
      })),
    },
    options: {
      indexAxis: "y",
      scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true } },
      onClick: (event, elements, chart) => {
        if (!elements.length) return;
        const { datasetIndex, index } = elements[0];
        open(chart.data.datasets[datasetIndex].links, index);
      },
    },
  });

  draw("sla", {
    type: "bar",
    data: {
      labels: ["first response", "resolution"],
      datasets: data.sla.map((s) => ({ label: s.label, data: s.values, backgroundColor: s.colour, links: s.links })),
    },
    options: {
      scales: { y: { beginAtZero: true, max: 100 } },
      onClick: (event, elements, chart) => {
        if (!elements.length) return;
        const { datasetIndex, index } = elements[0];
        open(chart.data.datasets[datasetIndex].links, index);
      },
    },
  });
  // "1 h 12 m", as the hours_human template filter writes durations.
  function hoursHuman(hours) {
    if (hours === null || hours === undefined) return "—";
    const minutes = Math.round(hours * 60);
    if (minutes < 1) return "< 1 m";
    const days = Math.floor(minutes / 1440), h = Math.floor((minutes % 1440) / 60), m = minutes % 60;
    if (days) return h ? `${days} d ${h} h` : `${days} d`;
    if (h) return m ? `${h} h ${m} m` : `${h} h`;
    return `${m} m`;
  }

  // Age ticks on whole hours or days: 1, 6 or 24 h steps, about five of them.
  function ageStep(hours) {
    const max = Math.max(1, ...hours.filter((h) => h !== null));
    const unit = max > 96 ? 24 : max > 12 ? 6 : 1;
    return unit * Math.max(1, Math.ceil(max / unit / 5));
  }

  if (data.triage) {
    draw("triage", {
      data: {
        labels: data.triage.days,
        datasets: [
          { type: "bar", label: "waiting", data: data.triage.waiting, backgroundColor: "#90a4ae", yAxisID: "count", order: 2 },
          { type: "line", label: "median age", data: data.triage.median, borderColor: "#1e88e5", backgroundColor: "#1e88e5", yAxisID: "age", spanGaps: true, pointRadius: 2, order: 1 },
          { type: "line", label: "90th percentile age", data: data.triage.p90, borderColor: "#e53935", backgroundColor: "#e53935", yAxisID: "age", spanGaps: true, pointRadius: 2, order: 1 },
        ],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          count: { position: "left", beginAtZero: true, title: { display: true, text: "posts waiting" }, ticks: { precision: 0 } },
          age: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "age" }, ticks: { stepSize: ageStep(data.triage.p90), callback: (v) => (v === 0 ? "0" : hoursHuman(v)) } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: (ctx) => ctx.dataset.yAxisID === "age" ? `${ctx.dataset.label}: ${hoursHuman(ctx.raw)}` : `${ctx.dataset.label}: ${ctx.raw}`,
            },
          },
        },
      },
    });
  }
})();
