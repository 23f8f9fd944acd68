package main

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watcher reloads the config when its file changes, after a quiet period (editors write files in
// several steps). It watches the directory, so replacing the file (a Kubernetes ConfigMap update swaps
// a symlink) is seen too.
type watcher struct {
	w    *fsnotify.Watcher
	done chan struct{}
	wg   sync.WaitGroup
}

func watchFile(path string, debounce time.Duration, onChange func(), log *zap.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		fw.Close()
		return nil, err
	}
	if err := fw.Add(filepath.Dir(abs)); err != nil {
		fw.Close()
		return nil, err
	}
	w := &watcher{w: fw, done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		var timer *time.Timer
		var fire <-chan time.Time
		for {
			select {
			case <-w.done:
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				// ConfigMaps update through ..data symlink swaps: any change in the directory counts
				// when the file itself is a symlink; otherwise only the file's own events do.
				if filepath.Clean(ev.Name) != abs && !isSymlink(abs) {
					continue
				}
				if timer == nil {
					timer = time.NewTimer(debounce)
				} else {
					timer.Reset(debounce)
				}
				fire = timer.C
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				log.Warn("config watch", zap.Error(err))
			case <-fire:
				fire = nil
				onChange()
			}
		}
	}()
	return w, nil
}

func (w *watcher) close() {
	close(w.done)
	w.w.Close()
	w.wg.Wait()
}

func isSymlink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}
