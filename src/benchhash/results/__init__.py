"""The result file alone, schema v6 (fleet files: fleet schema 2): the model (pydantic), io
(canonical JSON, digest, migrations of older schemas, atomic and exclusive writes), build (a
result assembled as the run goes), sign, paths, and the fleet file's model and build (fleet,
fleet_build). What reads files and judges them (verify, compare, merge, export) is review/."""
