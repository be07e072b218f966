// The public map: kecamatan outlines from the gazetteer (so it reads without tiles), tiles when configured,
// and the reports as points. Report texts are set with textContent: never parsed as HTML.
(function () {
  "use strict";
  var element = document.getElementById("map");
  if (!element || !window.L || !window.crophubBaseMap) { return; }
  var map = window.crophubBaseMap(element);
  function popup(props) {
    var box = document.createElement("div");
    var title = document.createElement("strong");
    title.textContent = props.id + " — " + props.label;
    var meta = document.createElement("div");
    meta.textContent = (props.area || "") + " · " + (props.status === "closed" ? "selesai" : "terbuka") +
      " · " + props.created_local;  // the server's words, in WIB
    var text = document.createElement("div");
    text.className = "popup-text";
    text.textContent = props.text;
    box.appendChild(title); box.appendChild(meta); box.appendChild(text);
    if (props.photo) {  // only when the city publishes report photos (web.open311.public_photos)
      var img = document.createElement("img");
      img.src = props.photo;
      img.alt = "foto laporan";
      img.className = "popup-photo";
      box.appendChild(img);
    }
    return box;
  }
  fetch("/public/tickets.geojson?days=" + encodeURIComponent(element.dataset.days || "30"))
    .then(function (r) { return r.json(); })
    .then(function (reports) {
      L.geoJSON(reports, {
        pointToLayer: function (feature, latlng) {
          var open = feature.properties.status !== "closed";
          return L.circleMarker(latlng, { radius: 6, color: open ? "#c0392b" : "#27ae60", weight: 1, fillOpacity: 0.7 });
        },
        onEachFeature: function (feature, marker) { marker.bindPopup(popup(feature.properties)); }
      }).addTo(map);
      // The map stays on the city (basemap.js): an old report far outside it must not zoom it out.
      element.dataset.loaded = String(reports.features.length);
    });
})();
