/* Click a header of a .kit-sortable table to sort by that column (numbers numerically). */
(function () {
  function value(cell) {
    var text = cell.textContent.trim();
    var number = parseFloat(text.replace(/,/g, ""));
    return (text !== "" && !isNaN(number) && /^-?[\d,.]+%?$/.test(text)) ? number : text.toLowerCase();
  }
  document.querySelectorAll("table.kit-sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, index) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var desc = th.getAttribute("data-sort") !== "desc";
        table.querySelectorAll("thead th").forEach(function (other) { other.removeAttribute("data-sort"); });
        th.setAttribute("data-sort", desc ? "desc" : "asc");
        rows.sort(function (a, b) {
          var x = value(a.cells[index]), y = value(b.cells[index]);
          var order = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return desc ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
/* Search, filter by column and page the long .kit-searchable tables. Rows are already escaped by
   the kit; this only reads their text and hides rows, and builds its controls from text nodes. */
(function () {
  function control(tag, cls, text) {
    var node = document.createElement(tag);
    node.className = cls;
    if (text) { node.textContent = text; }
    return node;
  }
  function setup(table) {
    var size = parseInt(table.getAttribute("data-page-size") || "25", 10);
    var body = table.tBodies[0];
    var total = body.rows.length;
    var bar = control("div", "kit-table-tools");
    var search = control("input", "kit-search");
    search.type = "search";
    search.placeholder = "Search";
    search.setAttribute("aria-label", "Search the table");
    var column = control("select", "kit-search-column");
    column.setAttribute("aria-label", "Column to search");
    column.appendChild(new Option("in every column", "-1"));
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      column.appendChild(new Option("in " + th.textContent, String(index)));
    });
    var previous = control("button", "kit-page", "\u2039 previous");
    var next = control("button", "kit-page", "next \u203a");
    var status = control("span", "kit-page-status");
    previous.type = next.type = "button";
    [search, column, previous, status, next].forEach(function (node) { bar.appendChild(node); });
    var wrap = table.parentNode.classList.contains("kit-table-wrap") ? table.parentNode : table;
    wrap.parentNode.insertBefore(bar, wrap);
    var page = 0;
    function apply() {
      var query = search.value.trim().toLowerCase();
      var index = parseInt(column.value, 10);
      var rows = Array.prototype.slice.call(body.rows);
      var matching = rows.filter(function (row) {
        if (!query) { return true; }
        var cell = index < 0 ? row : row.cells[index];
        return !!cell && cell.textContent.toLowerCase().indexOf(query) !== -1;
      });
      var pages = Math.max(1, Math.ceil(matching.length / size));
      page = Math.min(page, pages - 1);
      rows.forEach(function (row) { row.hidden = true; });
      matching.slice(page * size, (page + 1) * size).forEach(function (row) { row.hidden = false; });
      var first = matching.length ? page * size + 1 : 0;
      var last = Math.min((page + 1) * size, matching.length);
      status.textContent = "rows " + first + "\u2013" + last + " of " + matching.length +
        (matching.length === total ? "" : " (filtered from " + total + ")");
      previous.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    search.addEventListener("input", function () { page = 0; apply(); });
    column.addEventListener("change", function () { page = 0; apply(); });
    previous.addEventListener("click", function () { page -= 1; apply(); });
    next.addEventListener("click", function () { page += 1; apply(); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener("click", function () { window.setTimeout(apply, 0); });  /* after a sort */
    });
    apply();
  }
  document.querySelectorAll("table.kit-searchable").forEach(setup);
})();
