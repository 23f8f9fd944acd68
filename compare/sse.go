package compare

import (
	"bytes"
	"errors"
	"sort"
	"strconv"

	"github.com/valyala/fastjson"
)

type sseChoice struct {
	index          int
	role, content  []byte
	text           []byte
	finish         []byte
	hasMsg, isText bool
}

var errEmptyStream = errors.New("event stream holds no data event")

// assembleSSE turns an OpenAI server-sent event stream into the equivalent non-streamed answer:
// per choice index, message content (chat) or text (completions) concatenated, the last
// finish_reason kept. isErr reports an error object in the stream (or an "event: error").
func assembleSSE(body []byte) (out []byte, isErr bool, err error) {
	var (
		p       fastjson.Parser
		choices []*sseChoice
		object  = "chat.completion"
		events  int
		errNext bool
	)
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimRight(line, "\r")
		if bytes.HasPrefix(line, []byte("event:")) {
			errNext = bytes.Equal(bytes.TrimSpace(line[len("event:"):]), []byte("error"))
			continue
		}
		if !bytes.HasPrefix(line, []byte("data:")) {
			continue
		}
		data := bytes.TrimSpace(line[len("data:"):])
		if bytes.Equal(data, []byte("[DONE]")) {
			break
		}
		events++
		if errNext {
			return nil, true, nil
		}
		v, err := p.ParseBytes(tolerant(new([]byte), data))
		if err != nil {
			return nil, false, err
		}
		if e := v.Get("error"); e != nil && e.Type() != fastjson.TypeNull {
			return nil, true, nil
		}
		if obj := v.GetStringBytes("object"); bytes.Equal(obj, []byte("text_completion")) {
			object = "text_completion"
		}
		for _, ch := range v.GetArray("choices") {
			idx := ch.GetInt("index")
			var c *sseChoice
			for _, x := range choices {
				if x.index == idx {
					c = x
				}
			}
			if c == nil {
				c = &sseChoice{index: idx}
				choices = append(choices, c)
			}
			if d := ch.Get("delta"); d != nil {
				c.hasMsg = true
				if r := d.GetStringBytes("role"); r != nil {
					c.role = append(c.role[:0], r...)
				}
				c.content = append(c.content, d.GetStringBytes("content")...)
			}
			if t := ch.Get("text"); t != nil {
				c.isText = true
				c.text = append(c.text, ch.GetStringBytes("text")...)
			}
			if f := ch.GetStringBytes("finish_reason"); f != nil {
				c.finish = append(c.finish[:0], f...)
			}
		}
	}
	if events == 0 {
		return nil, false, errEmptyStream
	}
	sort.Slice(choices, func(i, j int) bool { return choices[i].index < choices[j].index })
	out = append(out, `{"object":`...)
	out = appendJSONString(out, []byte(object), "")
	out = append(out, `,"choices":[`...)
	for i, c := range choices {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"index":`...)
		out = strconv.AppendInt(out, int64(c.index), 10)
		if c.isText && !c.hasMsg {
			out = append(out, `,"text":`...)
			out = appendJSONString(out, c.text, "")
		} else {
			role := c.role
			if role == nil {
				role = []byte("assistant")
			}
			out = append(out, `,"message":{"role":`...)
			out = appendJSONString(out, role, "")
			out = append(out, `,"content":`...)
			out = appendJSONString(out, c.content, "")
			out = append(out, '}')
		}
		out = append(out, `,"finish_reason":`...)
		if c.finish == nil {
			out = append(out, "null"...)
		} else {
			out = appendJSONString(out, c.finish, "")
		}
		out = append(out, '}')
	}
	out = append(out, "]}"...)
	return out, false, nil
}
