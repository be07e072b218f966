// The ticket page's small map: the report's point (data-lat, data-lon) over the kecamatan outlines (basemap.js),
// tiles when configured. No inline script on the page, so a strict Content-Security-Policy fits.
(function () {
  "use strict";
  var element = document.getElementById("ticket-map");
  if (!element || !window.L || !window.crophubBaseMap) { return; }
  var point = [parseFloat(element.dataset.lat), parseFloat(element.dataset.lon)];
  if (isNaN(point[0]) || isNaN(point[1])) { return; }
  var map = window.crophubBaseMap(element);
  // Without tiles a street-level zoom shows an empty square: far enough out to see the kecamatan around it.
  map.setView(point, element.dataset.tiles ? 16 : 13, { animate: false });
  var marker = L.circleMarker(point, { radius: 9, color: "#c0392b", weight: 2, fillOpacity: 0.8 }).addTo(map);
  marker.bindTooltip(element.dataset.label || "", { permanent: false });
  element.dataset.loaded = "1";
})();
