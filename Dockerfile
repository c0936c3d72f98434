# cairn: one static binary on a minimal, non-root runtime image.
#
#   docker build -t cairn .
#   docker run -p 5000:5000 -v cairn-data:/data cairn
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cairn ./cmd/cairn \
 && mkdir -p /out/data

# distroless/static has no shell and no package manager; "nonroot" is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cairn /usr/local/bin/cairn
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 5000
ENTRYPOINT ["/usr/local/bin/cairn"]
CMD ["serve", "--addr", "0.0.0.0:5000", "--data", "/data"]
