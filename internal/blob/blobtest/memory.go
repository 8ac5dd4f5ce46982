package blobtest

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// PutMemory uploads data to key with client straight from memory, in
// multipart parts of partSize with at most concurrency in flight: the
// yardstick the S3 store's streaming is measured against (the same client,
// part size and concurrency).
func PutMemory(ctx context.Context, c *s3.Client, bucket, key string, data []byte, partSize int64, concurrency int) error {
	out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return err
	}
	n := (int64(len(data)) + partSize - 1) / partSize
	parts := make([]types.CompletedPart, n)
	sem := make(chan struct{}, concurrency)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		part := data[i*partSize : min(int64(len(data)), (i+1)*partSize)]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o, err := c.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: &bucket, Key: &key, UploadId: out.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
			})
			if err != nil {
				errs[i] = err
				return
			}
			parts[i] = types.CompletedPart{ETag: o.ETag, PartNumber: aws.Int32(int32(i + 1))}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_, _ = c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: out.UploadId})
		return err
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: out.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}
