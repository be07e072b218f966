// The public map and list: kecamatan outlines from the gazetteer (so it reads without tiles), tiles when configured,
// the reports as points grouped in clusters (Leaflet.markercluster, vendored), and the list beside the map. The
// filter form drives both: a change fetches the map's points and the list's first page for the same query, and
// puts that query in the address bar (a reload or a shared link shows the same). The view stays on the city, or
// on the kota/kecamatan chosen: never stretched to the reports (one far-off point would show half of Java).
// Every text from a report is set with textContent: never parsed as HTML.
(function () {
  "use strict";
  var element = document.getElementById("map");
  var form = document.getElementById("filters");
  var list = document.getElementById("reports");
  if (!element || !window.L || !window.crophubBaseMap) { return; }
  var map = window.crophubBaseMap(element);
  // Clusters need the deepest zoom to split at; without tiles the map has none of its own.
  if (!isFinite(map.getMaxZoom())) { map.setMaxZoom(19); }
  var markers = L.markerClusterGroup ? L.markerClusterGroup({
    maxClusterRadius: 40, showCoverageOnHover: false, spiderfyOnMaxZoom: true, chunkedLoading: true
  }) : L.featureGroup();
  markers.addTo(map);
  var query = element.dataset.query || "";
  var shown = list ? list.children.length : 0;  // list items on the page (the server drew the first page)
  var generation = 0;  // a newer filter change wins over an older answer still on its way

  function statusWords(status) { return status === "closed" ? "selesai" : "terbuka"; }

  function popup(props) {
    var box = document.createElement("div");
    var title = document.createElement("a");
    title.href = props.url;
    title.className = "popup-title";
    title.textContent = props.id + " — " + props.label;
    var meta = document.createElement("div");
    meta.textContent = (props.area || "") + " · " + statusWords(props.status) + " · " + props.created_local;  // WIB
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

  function item(t) {
    var li = document.createElement("li");
    li.className = "report status-" + t.status;
    li.dataset.id = t.id;
    var link = document.createElement("a");
    link.href = t.url;
    var id = document.createElement("span");
    id.className = "report-id";
    id.textContent = t.id;
    var category = document.createElement("span");
    category.className = "report-category";
    category.textContent = t.label;
    link.appendChild(id); link.appendChild(document.createTextNode(" ")); link.appendChild(category);
    var meta = document.createElement("span");
    meta.className = "report-meta";
    var area = document.createElement("span");
    area.className = "report-area";
    area.textContent = t.area || "lokasi belum diketahui";
    var status = document.createElement("span");
    status.className = "report-status";
    status.textContent = statusWords(t.status);
    var time = document.createElement("time");
    time.dateTime = t.created;
    time.textContent = t.created_local;
    meta.appendChild(area); meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(status); meta.appendChild(document.createTextNode(" · ")); meta.appendChild(time);
    li.appendChild(link); li.appendChild(meta);
    return li;
  }

  function showList(page, append) {
    if (!list) { return; }
    if (!append) { while (list.firstChild) { list.removeChild(list.firstChild); } shown = 0; }
    page.tickets.forEach(function (t) { list.appendChild(item(t)); });
    shown += page.tickets.length;
    document.getElementById("list-total").textContent = String(page.total);
    document.getElementById("waze-n").textContent = String(page.waze);
    document.getElementById("waze-count").hidden = !page.waze;
    document.getElementById("list-empty").hidden = page.total > 0;
    document.getElementById("list-more").hidden = shown >= page.total;
    list.dataset.query = query;
  }

  function showPoints(reports) {
    markers.clearLayers();
    markers.addLayer(L.geoJSON(reports, {
      pointToLayer: function (feature, latlng) {
        var open = feature.properties.status !== "closed";
        return L.circleMarker(latlng, { radius: 6, color: open ? "#c0392b" : "#27ae60", weight: 1, fillOpacity: 0.7 });
      },
      onEachFeature: function (feature, marker) { marker.bindPopup(popup(feature.properties)); }
    }));
    element.dataset.loaded = String(reports.features.length);
    element.dataset.query = query;
  }

  function json(url) {
    return fetch(url).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  // Both the map's points and the list for `query`; the list's answer also names the chosen area's extent.
  function load(fit) {
    var mine = ++generation;
    var suffix = query ? "?" + query : "";
    json("/public/tickets.geojson" + suffix).then(function (reports) {
      if (mine === generation) { showPoints(reports); }
    });
    if (fit) {
      json("/public/tickets.json" + suffix).then(function (page) {
        if (mine !== generation) { return; }
        showList(page, false);
        map.fitBounds(page.bounds || map.crophubCity, { padding: [10, 10] });  // an area, else the city
      });
    }
  }

  if (form) {
    var apply = function (event) {
      if (event) { event.preventDefault(); }
      var params = new URLSearchParams();
      Array.prototype.forEach.call(form.elements, function (field) {
        if (field.name && field.value) { params.set(field.name, field.value); }
      });
      query = params.toString();
      history.replaceState(null, "", "/" + (query ? "?" + query : "") + location.hash);
      load(true);
    };
    form.addEventListener("change", apply);
    form.addEventListener("submit", apply);
  }
  var more = document.getElementById("list-more");
  if (more) {
    more.addEventListener("click", function () {
      var mine = generation;
      json("/public/tickets.json?" + query + (query ? "&" : "") + "offset=" + shown).then(function (page) {
        if (mine === generation) { showList(page, true); }
      });
    });
  }
  if (element.dataset.areaBounds) {  // opened on a kota or kecamatan (a shared link): show that area
    map.fitBounds(JSON.parse(element.dataset.areaBounds), { padding: [10, 10] });
  }
  load(false);  // the list is on the page already; the points come now
})();
