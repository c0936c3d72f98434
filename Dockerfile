# cairn: one static binary on a minimal, non-root runtime image.
#
#   docker build -t cairn .                      # the registry (last stage)
#   docker run -p 5000:5000 -v cairn-data:/data -v ./certs:/certs:ro cairn \
#       serve --addr 0.0.0.0:5000 --data /data --tls-cert /certs/cert.pem --tls-key /certs/key.pem
#
#   The default command (no TLS) turns authentication on, since it listens on
#   every address, and warns that passwords then cross the network in clear
#   text: give it a certificate as above, or put a TLS-terminating proxy in
#   front and name its token endpoint with --realm https://HOST/token.
#
#   docker build --target agent -t serve .       # journey 2: verify at startup
#   docker run -v ./policy:/etc/cairn:ro -v models:/models serve \
#       --ref registry.example.com/team-a/llama@sha256:... -- python -m http.server -d /models
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cairn ./cmd/cairn \
 && mkdir -p /out/data

# Journey 2: an image whose entrypoint is the verification agent. cairn run
# checks the model against the mounted policy (and the keys it names), pulls
# it into /models verifying every file as it streams, scans it, and only then
# execs the workload given after "--" in the same process, so signals and the
# exit status pass through. A refused model exits 1 and nothing starts.
# Replace the base with the workload's own image (python, vLLM, Triton...).
FROM python:3.12-slim AS agent
COPY --from=build /out/cairn /usr/local/bin/cairn
RUN mkdir -p /models /etc/cairn && chown 65532:65532 /models
USER 65532:65532
ENV CAIRN_CACHE=/models/.cairn/cache
ENTRYPOINT ["cairn", "run", "--policy", "/etc/cairn/policy.yaml", "--dir", "/models"]
CMD ["--help"]

# distroless/static has no shell and no package manager; "nonroot" is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cairn /usr/local/bin/cairn
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 5000
ENTRYPOINT ["/usr/local/bin/cairn"]
CMD ["serve", "--addr", "0.0.0.0:5000", "--data", "/data"]
