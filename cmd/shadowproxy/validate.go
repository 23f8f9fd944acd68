package main

import (
	"fmt"
	"io"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/configs"
)

// validate prints a one-line summary of a valid config, or every problem as file:line:column: message.
// configChecks adds to the config's validation what other packages own: compare's path grammars.
// validate, run and reloads use it alike, so a config validate accepts is one run starts with.
var configChecks = configs.Checks{ComparePath: compare.CheckPath, BodyPath: compare.CheckSetPath, PredictionPath: func(format, path string) error {
	_, err := compare.NewPicker(format, path)
	return err
}}

func validate(path string, stdout, stderr io.Writer) error {
	cfg, err := configChecks.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	fmt.Fprintln(stdout, configs.Summary(cfg))
	return nil
}
