#!/usr/bin/env node
// Parse and semantically analyze .kql files with Microsoft's Kusto language service
// (@kusto/language-service-next, the JavaScript build of Kusto.Language) against declared
// table schemas, and print every diagnostic as JSON.
//
// Usage: node check.js SCHEMA.json FILE.kql [FILE.kql ...]
//
// SCHEMA.json: {"database": "name",
//               "tables": [{"name": "T", "description": "...",
//                           "columns": [{"name": "C", "type": "string"}, ...]}, ...]}
//
// Output (stdout, one JSON document):
//   {"analyzer": "@kusto/language-service-next", "version": "12.4.1",
//    "files": [{"path": "...", "diagnostics": [{"code", "severity", "category", "message",
//               "source", "start", "length", "line", "column", "text"}]}]}
// "source" is "compiler" (syntax and semantic errors: the query will not run) or "analyzer"
// (the service's best-practice rules: warnings and suggestions).
//
// Exit status: 0 no Error diagnostics, 1 at least one Error diagnostic, 2 bad input or the
// language service could not be loaded (message on stderr).
"use strict";

const fs = require("fs");

const PACKAGE = "@kusto/language-service-next";

function fail(message) {
  process.stderr.write(`kql-check: ${message}\n`);
  process.exit(2);
}

function loadLanguageService() {
  // The package is a Bridge.NET build: the runtime defines the `Bridge` global and the library
  // defines the `Kusto` global; neither exports a module.
  try {
    require(`${PACKAGE}/bridge.min.js`);
    require(`${PACKAGE}/Kusto.Language.Bridge.min.js`);
  } catch (err) {
    fail(`cannot load ${PACKAGE} (run \`npm ci\` in ${__dirname}): ${err.message}`);
  }
  const version = require(`${PACKAGE}/package.json`).version;
  return { K: global.Kusto.Language, version };
}

function readSchema(file) {
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    fail(`cannot read schema ${file}: ${err.message}`);
  }
  if (!doc || typeof doc.database !== "string" || !Array.isArray(doc.tables)) {
    fail(`schema ${file} must be {"database": string, "tables": [...]}`);
  }
  return doc;
}

function buildGlobals(K, doc) {
  const S = K.Symbols;
  const tables = doc.tables.map((t) => {
    if (typeof t.name !== "string" || !Array.isArray(t.columns)) {
      fail(`schema table entries need "name" and "columns": ${JSON.stringify(t).slice(0, 200)}`);
    }
    const columns = t.columns.map((c) => {
      const type = S.ScalarTypes.GetSymbol(String(c.type));
      if (!type) {
        fail(`table ${t.name}, column ${c.name}: unknown Kusto type ${JSON.stringify(c.type)}`);
      }
      return new S.ColumnSymbol(String(c.name), type, null, null, null, null);
    });
    return new S.TableSymbol.$ctor6(t.name, columns, t.description || null);
  });
  const database = new S.DatabaseSymbol.ctor(doc.database, tables);
  return K.GlobalState.Default.WithDatabase(database);
}

function toArray(list) {
  const out = [];
  if (!list) return out;
  for (let i = 0; i < list.Count; i++) out.push(list.getItem(i));
  return out;
}

function lineAndColumn(text, offset) {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line += 1;
      lineStart = i + 1;
    }
  }
  const lineEnd = text.indexOf("\n", lineStart);
  const lineText = text.slice(lineStart, lineEnd === -1 ? text.length : lineEnd).replace(/\r$/, "");
  return { line, column: offset - lineStart + 1, lineText };
}

function describe(text, d, source) {
  const start = d.HasLocation ? d.Start : 0;
  const where = lineAndColumn(text, start);
  return {
    code: d.Code,
    severity: d.Severity,
    category: d.Category,
    message: d.Message,
    source,
    start,
    length: d.HasLocation ? d.Length : 0,
    line: where.line,
    column: where.column,
    text: where.lineText,
  };
}

function checkFile(K, globals, file) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    fail(`cannot read ${file}: ${err.message}`);
  }
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const service = new K.Editor.KustoCodeService.ctor(code);
  const diagnostics = [
    ...toArray(code.GetDiagnostics()).map((d) => describe(text, d, "compiler")),
    ...toArray(service.GetAnalyzerDiagnostics(true)).map((d) => describe(text, d, "analyzer")),
  ];
  diagnostics.sort((a, b) => a.start - b.start || a.code.localeCompare(b.code));
  return { path: file, diagnostics };
}

function main(argv) {
  if (argv.length < 1) {
    fail("usage: node check.js SCHEMA.json [FILE.kql ...]");
  }
  const [schemaFile, ...files] = argv;
  const { K, version } = loadLanguageService();
  const globals = buildGlobals(K, readSchema(schemaFile));
  const results = files.map((f) => checkFile(K, globals, f));
  process.stdout.write(JSON.stringify({ analyzer: PACKAGE, version, files: results }) + "\n");
  const errors = results.some((r) => r.diagnostics.some((d) => d.severity === "Error"));
  process.exitCode = errors ? 1 : 0;
}

main(process.argv.slice(2));
