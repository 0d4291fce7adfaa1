# The circles image: one static binary on a distroless base, running as
# a non-root user. Build it from the repository root:
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t circles .
#   docker run --rm circles version
#   docker run --rm circles demo
#
# VERSION becomes the manifests' code_version (the image has no .git to
# stamp it from). The build line below is the one
# TestStaticBuildCarriesItsVersion runs.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X circles/jobs.releaseVersion=${VERSION}" -o /out/circles ./cmd/circles

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/circles /usr/local/bin/circles
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/circles"]
CMD ["list"]
