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
})();
