export * from "./table.js";
export * from "./detect-table-format.js";
export * from "./read-table.js";
export * from "./pandas-na.js";
