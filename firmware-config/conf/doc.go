// Package conf reads the project's YAML configuration files (gateway
// configs, device profiles, collector configs, simulator scenarios) the one
// way: strictly, with every problem reported as file:line: field.path:
// message.
//
// Decode walks yaml.v3's node tree against the Go type itself, so unknown
// keys, values of the wrong kind (a list where a mapping belongs) and
// scalars that do not fit their field are all found in one pass, in file
// order, each at its own line. The Document it returns keeps the line of
// every field path, so checks made after decoding (Document.Errorf) still
// point at the line a reader must fix.
//
// Duration and ByteSize decode themselves with the value's line in their
// errors and a hint how to write them; ValidName is the name rule of
// everything that becomes an MQTT topic level or an InfluxDB tag, field or
// measurement; Unique reports missing, invalid and repeated names; ClientTLS
// is the TLS set-up of every MQTT client.
package conf
