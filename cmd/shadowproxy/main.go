// Command shadowproxy is a shadow-release reverse proxy for ML model servers: every request goes to the
// primary model and its answer returns unchanged; a sampled copy goes asynchronously to candidate
// models, whose answers are compared with the primary's; disagreements stream to a file or Kafka, and
// Prometheus metrics and /status show how each candidate does.
//
// Usage:
//
//	shadowproxy run -config shadowproxy.yaml       serve; SIGHUP reloads, SIGTERM drains and exits
//	shadowproxy validate -config shadowproxy.yaml  check a config: a summary, or file:line:column errors
//	shadowproxy demo                               demo models, traffic and a live summary
//	shadowproxy version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// exitCode is an error that asks for a particular exit status without another message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var code exitCode
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		fmt.Fprintln(os.Stderr, "shadowproxy:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  shadowproxy run -config FILE        serve (SIGHUP reloads the config, SIGTERM drains and exits)
  shadowproxy validate -config FILE   check a config and print a summary or file:line:column errors
  shadowproxy demo [-duration D]      run demo models, traffic and a live summary; Ctrl-C ends it
  shadowproxy score -config F -records R -labels L
                                      judge the primary and the candidates against ground-truth labels
  shadowproxy replay -config F -records R -candidate NAME=URL [-c N] [-rate R] [-out FILE] [-labels L]
                                      send recorded requests to a new candidate and compare its answers
  shadowproxy export -records R -format labelstudio|csv [-kind disagreement]
                                      write labeling tasks for Label Studio or a spreadsheet
  shadowproxy version                 print the version
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		path, err := configFlag("run", args, stderr)
		if err != nil {
			return err
		}
		return serve(path, stderr)
	case "validate":
		path, err := configFlag("validate", args, stderr)
		if err != nil {
			return err
		}
		return validate(path, stdout, stderr)
	case "demo":
		return demo(args, stdout, stderr)
	case "score":
		return score(args, stdout, stderr)
	case "replay":
		return replay(args, stdout, stderr)
	case "export":
		return export(args, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "shadowproxy", versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "shadowproxy: unknown command %q\n%s", cmd, usage)
	return exitCode(2)
}

func configFlag(name string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "shadowproxy.yaml", "path of the YAML config")
	if err := fs.Parse(args); err != nil {
		return "", exitCode(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shadowproxy %s: unexpected argument %q\n", name, fs.Arg(0))
		return "", exitCode(2)
	}
	return *path, nil
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		if v != "" {
			return v + " " + bi.GoVersion
		}
	}
	return "(devel)"
}
