// Package config reads Flume's Java-properties configuration format and
// turns one agent's keys into validated component configurations before
// anything starts. Every problem is collected, with file:line and the full
// key path, so a user fixes their file in one pass.
//
// Component configs are plain structs whose fields carry `prop` tags:
//
//	type Config struct {
//		Port    int               `prop:"port,required"`
//		Headers map[string]string `prop:"headers.*"`
//	}
//
// Keys that match no field are errors, as in Prometheus and VictoriaMetrics.
package config
