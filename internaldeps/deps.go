package deps
import (
 _ "github.com/valyala/fasthttp"
 _ "github.com/valyala/fastjson"
 _ "github.com/segmentio/kafka-go"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "go.uber.org/zap"
 _ "go.uber.org/goleak"
 _ "github.com/twmb/franz-go/pkg/kfake"
 _ "github.com/DataDog/sketches-go/ddsketch"
 _ "go.yaml.in/yaml/v3"
 _ "github.com/cespare/xxhash/v2"
 _ "github.com/google/uuid"
 _ "github.com/fsnotify/fsnotify"
)
