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
