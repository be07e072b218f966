// The officers' map: kecamatan outlines from the gazetteer (so it reads without tiles), tiles when configured, and
// the queue's tickets (the page's filters) as points coloured by status. Every value from a report is set with
// textContent, never parsed as HTML; no inline script on the page, so a strict Content-Security-Policy fits.
(function () {
  "use strict";
  var element = document.getElementById("map");
  if (!element || !window.L || !window.crophubBaseMap) { return; }
  var colours = JSON.parse(element.dataset.colours || "{}");
  var count = document.getElementById("map-count");
  var map = window.crophubBaseMap(element);
  function line(tag, text, className) {
    var node = document.createElement(tag);
    node.textContent = text;
    if (className) { node.className = className; }
    return node;
  }
  function popup(props) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = "/crop/tickets/" + encodeURIComponent(props.id);
    link.textContent = props.id;
    var title = document.createElement("strong");
    title.appendChild(link);
    title.appendChild(document.createTextNode(" — " + props.category));
    box.appendChild(title);
    box.appendChild(line("div", props.status_label + " · " + props.agency, "popup-meta"));
    box.appendChild(line("div", "Masuk " + props.created_local + " (" + String(props.age_h).replace(".", ",") + " jam lalu)", "popup-meta"));
    box.appendChild(line("div", props.area + (props.place ? " — " + props.place : ""), "popup-meta"));
    box.appendChild(line("div", props.text, "popup-text"));
    return box;
  }
  fetch(element.dataset.source, { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(function (tickets) {
      var layer = L.geoJSON(tickets, {
        pointToLayer: function (feature, latlng) {
          var colour = colours[feature.properties.status] || "#555555";
          return L.circleMarker(latlng, { radius: 7, color: colour, weight: 1, fillOpacity: 0.75 });
        },
        onEachFeature: function (feature, marker) { marker.bindPopup(popup(feature.properties)); }
      }).addTo(map);
      element.dataset.loaded = String(tickets.features.length);
      if (count) { count.textContent = tickets.features.length + " laporan di peta."; }
      // Closer in on the tickets the filters left, but only on those within the city: one far-off point (an
      // old report outside Jakarta) must not zoom the map out to Java.
      var near = L.latLngBounds([]);
      var city = map.crophubCity.pad(0.1);
      layer.eachLayer(function (marker) { if (city.contains(marker.getLatLng())) { near.extend(marker.getLatLng()); } });
      if (near.isValid()) { map.fitBounds(near, { maxZoom: 15, padding: [20, 20] }); }
    })
    .catch(function (error) {
      if (count) { count.textContent = "Laporan tidak dapat dimuat (" + error.message + "); muat ulang halaman."; }
    });
  // Supervisors only (the page names the source for them alone): officers sharing a live location now.
  if (element.dataset.officers) {
    var officerCount = document.getElementById("officer-count");
    fetch(element.dataset.officers, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (officers) {
        L.geoJSON(officers, {
          pointToLayer: function (feature, latlng) {
            return L.marker(latlng, { icon: L.divIcon({ className: "officer-marker", html: "", iconSize: [14, 14] }),
                                      title: feature.properties.name, keyboard: true });
          },
          onEachFeature: function (feature, marker) {
            var p = feature.properties;
            var box = document.createElement("div");
            box.appendChild(line("strong", p.name + " (" + p.role + ")"));
            box.appendChild(line("div", "Posisi " + p.at_local + (p.accuracy_m ? " (±" + Math.round(p.accuracy_m) + " m)" : ""),
                                 "popup-meta"));
            box.appendChild(line("div", "Berbagi lokasi sampai " + p.until_local, "popup-meta"));
            marker.bindPopup(box);
          }
        }).addTo(map);
        element.dataset.officersLoaded = String(officers.features.length);
        if (officerCount) {
          officerCount.textContent = officers.features.length + " petugas sedang berbagi lokasi langsung.";
        }
      })
      .catch(function (error) {
        if (officerCount) { officerCount.textContent = "Lokasi petugas tidak dapat dimuat (" + error.message + ")."; }
      });
  }
})();
