package temporalserver

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts a *slog.Logger to the Temporal server's log.Logger
// interface, so the embedded server logs through the same handler chain as
// the rest of the process.
type serverLogger struct {
	l *slog.Logger
}

var (
	_ log.Logger     = serverLogger{}
	_ log.WithLogger = serverLogger{}
)

func (s serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic, Panic and Fatal are logged as errors rather than crashing: the
// server is a dev convenience inside a larger process, and taking the whole
// process down is the caller's decision, not the logger's.
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }
func (s serverLogger) Panic(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags) }
func (s serverLogger) Fatal(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags) }

// With implements log.WithLogger; without it the server falls back to a
// slower wrapper that re-prepends the tags on every call.
func (s serverLogger) With(tags ...tag.Tag) log.Logger {
	attrs := tagsToAttrs(tags)
	args := make([]any, len(attrs))
	for i, a := range attrs {
		args[i] = a
	}
	return serverLogger{l: s.l.With(args...)}
}

// SLog lets server components that want an *slog.Logger (log.NewSlogLogger)
// use ours directly.
func (s serverLogger) SLog() *slog.Logger { return s.l }

func (s serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	s.l.LogAttrs(ctx, level, msg, tagsToAttrs(tags)...)
}

func tagsToAttrs(tags []tag.Tag) []slog.Attr {
	attrs := make([]slog.Attr, len(tags))
	for i, t := range tags {
		attrs[i] = slog.Any(t.Key(), t.Value())
	}
	return attrs
}

// teeHandler sends each record to every handler that is enabled for its
// level. It is used to write everything to the log file while passing only
// the important records on to the user's logger.
type teeHandler []slog.Handler

func (t teeHandler) Enabled(ctx context.Context, level slog.Level) bool {
	for _, h := range t {
		if h.Enabled(ctx, level) {
			return true
		}
	}
	return false
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var firstErr error
	for _, h := range t {
		if !h.Enabled(ctx, r.Level) {
			continue
		}
		if err := h.Handle(ctx, r.Clone()); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func (t teeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithGroup(name)
	}
	return out
}

// userHandler passes records at or above min on to h, and nothing at all
// once off is set. off is set when the server starts stopping: shutdown
// makes every service log connection errors about the others going away,
// which is expected and only alarming in a terminal. The log file still gets
// them.
type userHandler struct {
	min slog.Level
	off *atomic.Bool
	h   slog.Handler
}

func (u userHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= u.min && !u.off.Load() && u.h.Enabled(ctx, level)
}

func (u userHandler) Handle(ctx context.Context, r slog.Record) error {
	return u.h.Handle(ctx, r)
}

func (u userHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return userHandler{min: u.min, off: u.off, h: u.h.WithAttrs(attrs)}
}

func (u userHandler) WithGroup(name string) slog.Handler {
	return userHandler{min: u.min, off: u.off, h: u.h.WithGroup(name)}
}
