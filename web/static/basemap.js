// The base of every map page: a Leaflet map on #map opened on the city (data-bounds, from the gazetteer: never the
// reports' extent, which one far-off point would stretch to half of Java), tiles when the page names a server
// (data-tiles), and the kecamatan outlines from the gazetteer, so a map reads without any tiles.
window.crophubBaseMap = function (element) {
  "use strict";
  var map = L.map(element, { preferCanvas: true });
  var city = element.dataset.bounds ? JSON.parse(element.dataset.bounds) : null;
  if (city) { map.fitBounds(city, { padding: [10, 10] }); } else { map.setView([-6.2, 106.84], 11); }
  map.crophubCity = city ? L.latLngBounds(city) : map.getBounds();
  if (element.dataset.tiles) {
    L.tileLayer(element.dataset.tiles, { maxZoom: 19, attribution: element.dataset.attribution || "" }).addTo(map);
  }
  fetch("/public/areas.geojson").then(function (r) { return r.json(); }).then(function (areas) {
    var outline = L.geoJSON(areas, { style: { color: "#0b5394", weight: 1, fillOpacity: 0.03 } }).addTo(map);
    outline.eachLayer(function (layer) { layer.bindTooltip(String(layer.feature.properties.name)); });
    // Outlines arriving after the points would be drawn over them on the shared canvas and take their clicks.
    outline.bringToBack();
  });
  return map;
};
