// The public ticket page's small map: the city's outlines (basemap.js, so it reads without tiles), tiles when
// configured, and the report's point, in view.
(function () {
  "use strict";
  var element = document.getElementById("map");
  if (!element || !window.L || !window.crophubBaseMap) { return; }
  var map = window.crophubBaseMap(element);
  var point = [Number(element.dataset.lat), Number(element.dataset.lon)];
  if (!isFinite(point[0]) || !isFinite(point[1])) { return; }
  // Without tiles a street-level zoom shows an empty square: far enough out to see the kecamatan around it.
  // Not animated: the page opens on the report, not on a flight to it.
  map.setView(point, element.dataset.tiles ? 16 : 13, { animate: false });
  L.circleMarker(point, { radius: 8, color: "#c0392b", weight: 2, fillOpacity: 0.8 }).addTo(map);
  element.dataset.ready = "1";
})();
